"""``kasper judge``: the LLM judge over a JSONL file, without Kafka.

Each line is an insight (``text``; optional ``domain``, ``context``, ``insight_id``,
``prompt_id``, as for ``kasper grade``) or a Grade record carrying its ``insight``, as
on the grades topic.  The judge is the configured one (``KASPER_JUDGE_*``); with no
``KASPER_JUDGE_BASE_URL`` the embedded one, as the judge role does: by default the
local model in this process, scoring in prefill batches (``KASPER_JUDGE_ENGINE=prefill``),
else ``mlx_lm.server`` (``server``), started and stopped at the end.  Every line is sent to the LLM (a grade that failed the rubric
too) and decided by the role's policy (:mod:`kasper.agents.judging.decision`).

Error policy: a line that cannot be read or judged (not JSON, no text, a refusal, an
answer that stayed unparseable) is one ``line N: ...`` message on stderr; the command
goes on and exits 1 at the end.  A judge that cannot be reached (``JudgeUnavailable``,
after the client's retries) stops the command with one error line: every later line
would fail the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from collections.abc import Callable, Iterable
from typing import IO, Any

import click

from kasper.agents.judge import JudgeRole, judge_request, llm_verdict
from kasper.agents.judging.errors import JudgeUnavailable
from kasper.agents.judging.request import JudgeRequest
from kasper.schemas import from_json, to_json, validate
from kasper.schemas.errors import KasperError
from kasper.streams import logs
from kasper.streams.settings import Settings, get_settings

# What one line becomes: the request, and the insight_id, prompt_id and grade of its verdict.
Parsed = tuple[JudgeRequest, str, str, dict[str, Any] | None]


def parse_line(raw: bytes | str) -> Parsed:
    """The judge request for one JSONL line (see the module docstring).

    Raises ``ValueError`` or a ``KasperError`` saying what is wrong with the line.
    """
    try:
        record = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    if "insight" in record:
        try:
            grade = from_json("Grade", record)
            validate("Grade", grade)
        except KasperError as exc:
            raise ValueError(f"a line with 'insight' must be a Grade record: {exc}") from None
        return judge_request(grade), grade["insight_id"], grade["prompt_id"], grade
    text, domain, context = record.get("text"), record.get("domain"), record.get("context") or {}
    if not isinstance(text, str) or not text.strip():
        raise ValueError("'text' must be a non-empty string (or the line a Grade carrying 'insight')")
    if domain is not None and not isinstance(domain, str):
        raise ValueError(f"'domain' must be a string, got {type(domain).__name__}")
    if not isinstance(context, dict):
        raise ValueError(f"'context' must be an object, got {type(context).__name__}")
    # The same default key as ``kasper grade``: judging a file twice gives the same ids.
    insight_id = record.get("insight_id") or "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    prompt_id = record.get("prompt_id") or ""
    if not isinstance(insight_id, str) or not isinstance(prompt_id, str):
        raise ValueError("'insight_id' and 'prompt_id' must be strings")
    request = JudgeRequest(text, domain, {str(k): str(v) for k, v in context.items() if v is not None})
    return request, insight_id, prompt_id, None


async def _verdict(role: JudgeRole, raw: bytes) -> dict[str, Any]:
    request, insight_id, prompt_id, grade = parse_line(raw)
    verdict = llm_verdict(insight_id, prompt_id, await role.judge(request), grade)
    validate("Verdict", verdict)
    return verdict


async def judge_lines(lines: Iterable[bytes], role: JudgeRole, window: int,
                      emit: Callable[[dict[str, Any]], None], warn: Callable[[str], None]) -> int:
    """Judge each non-blank line, ``window`` at a time; ``emit`` each Verdict in line order,
    ``warn`` a ``line N: ...`` message for each bad line.  Returns the number of bad lines;
    raises ``KasperError`` naming the line when the judge is unavailable."""
    bad = 0
    numbered = ((n, raw) for n, raw in enumerate(lines, start=1) if raw.strip())
    while chunk := list(itertools.islice(numbered, window)):
        results = await asyncio.gather(*(_verdict(role, raw) for _, raw in chunk), return_exceptions=True)
        for (number, _), result in zip(chunk, results):
            if isinstance(result, JudgeUnavailable):
                raise KasperError(f"line {number}: the judge is unavailable, stopped: {result}") from result
            if isinstance(result, (ValueError, KasperError)):
                bad += 1
                warn(f"line {number}: {result}")
            elif isinstance(result, BaseException):
                raise result  # a bug: its traceback is wanted
            else:
                emit(result)
    return bad


def _line(verdict: dict[str, Any]) -> str:
    return (f"{verdict['insight_id']}\t{verdict['overall']:.2f}\t{verdict['recommendation']}\t"
            f"{verdict['safety'] or '-'}\t{verdict['decision_reason'] or ''}")


async def _run(settings: Settings, source: IO[bytes], as_json: bool) -> int:
    role = JudgeRole(settings.judge, settings.model, cache_dir=settings.model.cache_dir)
    emit = (lambda v: click.echo(json.dumps(to_json(v), ensure_ascii=False))) if as_json else \
        (lambda v: click.echo(_line(v)))
    try:
        # A few calls in flight per client slot keep the judge busy; order is kept per window.
        return await judge_lines(source, role, 2 * max(1, settings.judge.concurrency), emit,
                                 lambda message: click.echo(message, err=True))
    finally:
        await role.aclose()


@click.command("judge")
@click.argument("source", type=click.File("rb"))
@click.option("--json", "as_json", is_flag=True, help="One Verdict record per line as JSON.")
def judge_offline(source: IO[bytes], as_json: bool) -> None:
    """Judge insights or grades from SOURCE (JSONL) with the configured LLM judge, without Kafka.

    A line is an insight (`text`, optional `domain`, `context`, `insight_id`, `prompt_id`)
    or a Grade record carrying `insight`. Without --json each verdict is one line:
    insight_id, overall, recommendation, safety flag, reason.
    """
    settings = get_settings()
    logs.configure(settings.observability)  # logs to stderr: stdout holds only verdicts
    bad = asyncio.run(_run(settings, source, as_json))
    if bad:
        raise KasperError(f"{bad} line(s) could not be judged")


COMMANDS = (judge_offline,)
