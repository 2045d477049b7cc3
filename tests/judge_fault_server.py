"""A real OpenAI-compatible chat-completions server on 127.0.0.1 that injects faults.

Each test scripts what the next requests get::

    with FaultServer() as server:
        server.script("429:0.2", "500", "ok")      # one action per request, in order
        server.cycle("ok", "ok", "500")            # then repeat this pattern (default: "ok")

Actions (``name`` or ``name:arg``):

    ok[:s1,s2,s3,s4,s5]   a valid JSON answer (default scores 8,7,8,9,7: APPROVE); with
                          logprobs when asked (OpenAI shape: sorted top_logprobs, bytes)
    low / reject          scores of 3 with REVISE / REJECT
    429[:s] / 429ms:ms    rate limited, with Retry-After seconds / retry-after-ms
    status:NNN            an OpenAI-style JSON error with that HTTP status (500, 503, 401...)
    unsupported:param     400 naming an unsupported parameter (as OpenAI does)
    echo_auth[:status]    401 (or status) whose body echoes the Authorization header (a leaky proxy)
    garbage               200 with an HTML body
    close                 closes the connection without answering
    slow:s                answers "ok" after s seconds (beyond the client's timeout)
    prose / empty / null  content that is prose, "" or null
    refusal / refusal_text / filter   refusal field, "I'm sorry..." text, content_filter
    range / clamp         scores 42 (rejected) / scores 0 and 11 (clamped)
    fenced / strings      JSON in a ```json fence with trailing text / numbers as strings
                          under key variants ("Authenticity Score", "practicality")

``POST .../tokenize`` answers as llama-server's does, by :func:`fake_tokenize`.
``requests`` records every request (path, headers, JSON body) for assertions.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEYS = ("authenticity", "practical_wisdom", "emotional_resonance", "clarity", "originality")


def answer_json(scores: list[float], decision: str = "APPROVE", **extra: Any) -> str:
    body = {**dict(zip(KEYS, scores)), "recommendation": decision,
            "rationale": "Specific, warm and actionable.", "revise_notes": "", **extra}
    return json.dumps(body)


CONTENT = {
    "low": answer_json([3, 3, 3, 3, 3], "REVISE", revise_notes="Be specific to the reader."),
    "reject": answer_json([3, 2, 3, 3, 2], "REJECT"),
    "prose": "This insight is lovely and I enjoyed reading it very much.",
    "empty": "",
    "null": None,
    "refusal_text": "I'm sorry, but I can't evaluate this content.",
    "range": answer_json([42, 7, 8, 9, 7]),
    "clamp": answer_json([0, 11, 8, 9, 7]),
    "fenced": "Here is my verdict:\n```json\n" + answer_json([8, 8, 8, 8, 8]) + "\n```\nHope it helps!",
    "strings": json.dumps({"Authenticity Score": "9", "practicality": "8/10", "Emotional-Resonance": "7",
                           "clarity": " 9 ", "originality": "8", "decision": "approved",
                           "reason": "Fine."}),
}


def _tokens(text: str) -> list[str]:
    return re.findall(r"\d|[A-Za-z_]+|\s+|[^\w\s]", text)


def _logprobs(content: str) -> dict[str, Any]:
    """OpenAI-shaped logprobs: each digit gets a spread over its neighbours."""
    out = []
    for tok in _tokens(content):
        top = [{"token": tok, "logprob": -0.01}]
        if tok.isdigit() and tok != "0":
            n = int(tok)
            top = [{"token": tok, "logprob": -0.5}, {"token": str(max(1, n - 1)), "logprob": -1.5},
                   {"token": str(min(9, n + 1)), "logprob": -2.0}, {"token": "the", "logprob": -3.0}]
            top = list({t["token"]: t for t in reversed(top)}.values())[::-1]
        for t in top:
            t["bytes"] = list(t["token"].encode())
        out.append({**top[0], "top_logprobs": top})
    return {"content": out}


def fake_tokenize(text: str) -> list[int]:
    """llama-server's ``/tokenize`` as this server answers it: a word of up to four
    characters (a leading space counts) is one token, a longer one two, as BPE splits
    " myself" into " my" + "self"; ids are stable per piece."""
    pieces = [text] if len(text) <= 4 else [text[:3], text[3:]]
    return [sum(map(ord, piece)) * 7 + len(piece) for piece in pieces]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers: the client pools connections
    server: FaultServer

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            return self._json(200, {"object": "list", "data": [{"id": "fault-model", "object": "model"}]})
        self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.record(self.path, dict(self.headers), body)
        if self.path.rstrip("/").endswith("/tokenize"):  # llama-server's, for its guards
            return self._json(200, {"tokens": fake_tokenize(body.get("content", ""))})
        name, _, arg = self.server.next_action().partition(":")
        self.server.enter()
        try:
            self._act(name, arg, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to answer
        finally:
            self.server.leave()

    def _act(self, name: str, arg: str, request: dict) -> None:
        if name == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif name in ("429", "429ms"):
            header = ("Retry-After", arg or "0.2") if name == "429" else ("retry-after-ms", arg or "200")
            self._error(429, "Rate limit reached for requests", "rate_limit_exceeded", headers=[header])
        elif name == "status":
            self._error(int(arg), f"server says {arg}", "server_error")
        elif name == "unsupported":
            self._error(400, f"Unsupported parameter: '{arg}' is not supported with this model.",
                        "unsupported_parameter", param=arg)
        elif name == "echo_auth":  # echo_auth[:status]
            self._error(int(arg or 401), f"Incorrect API key provided: {self.headers.get('Authorization')}",
                        "invalid_api_key")
        elif name == "garbage":
            self._raw(200, b"<html><body>502 Bad Gateway (but 200)</body></html>", "text/html")
        elif name == "slow":
            time.sleep(float(arg or 5))
            self._completion(request, answer_json([8, 7, 8, 9, 7]))
        elif name in ("refusal", "filter"):
            self._completion(request, None, refusal="I can't help with that." if name == "refusal" else None,
                             finish="content_filter" if name == "filter" else "stop")
        elif name in CONTENT:
            self._completion(request, CONTENT[name])
        else:  # ok[:scores]
            scores = [float(s) for s in arg.split(",")] if arg else [8, 7, 8, 9, 7]
            self._completion(request, answer_json(scores, "APPROVE" if sum(scores) >= 35 else "REVISE"))

    def _completion(self, request: dict, content: str | None, refusal: str | None = None,
                    finish: str = "stop") -> None:
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish,
                                  "message": {"role": "assistant", "content": content, "refusal": refusal}}
        if request.get("logprobs") and content:
            choice["logprobs"] = _logprobs(content)
        self._json(200, {"id": "chatcmpl-fault", "object": "chat.completion", "created": int(time.time()),
                         "model": request.get("model", "fault-model"), "choices": [choice],
                         "usage": {"prompt_tokens": 600, "completion_tokens": 60, "total_tokens": 660}})

    def _error(self, status: int, message: str, code: str, param: str | None = None,
               headers: list[tuple[str, str]] = ()) -> None:
        error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
        self._json(status, {"error": error}, headers)

    def _json(self, status: int, body: Any, headers: list[tuple[str, str]] = ()) -> None:
        self._raw(status, json.dumps(body).encode(), "application/json", headers)

    def _raw(self, status: int, data: bytes, ctype: str, headers: list[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class FaultServer(ThreadingHTTPServer):
    """The server: ``base_url`` for the client, ``script``/``cycle`` to set faults."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self._lock = threading.Lock()
        self._script: deque[str] = deque()
        self._cycle: list[str] = ["ok"]
        self._served = 0
        self._active = 0
        self.max_active = 0  # most requests answered at once: checks the client's concurrency bound
        self.requests: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="fault-server",
                                        daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def script(self, *actions: str) -> FaultServer:
        with self._lock:
            self._script = deque(actions)
        return self

    def cycle(self, *actions: str) -> FaultServer:
        with self._lock:
            self._cycle, self._served = list(actions), 0
        return self

    def next_action(self) -> str:
        with self._lock:
            if self._script:
                return self._script.popleft()
            action = self._cycle[self._served % len(self._cycle)]
            self._served += 1
            return action

    def enter(self) -> None:
        with self._lock:
            self._active += 1
            self.max_active = max(self.max_active, self._active)

    def leave(self) -> None:
        with self._lock:
            self._active -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-answer is part of the script

    def record(self, path: str, headers: dict, body: dict) -> None:
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body})

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
        self.server_close()


if __name__ == "__main__":  # a standalone fault server for worker subprocess tests: prints its URL
    import sys

    with FaultServer() as srv:
        srv.cycle(*(sys.argv[1:] or ["ok"]))
        print(srv.base_url, flush=True)
        threading.Event().wait()
