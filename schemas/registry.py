"""A small synchronous client for a Confluent-compatible Schema Registry.

Only the two calls the codec needs, both cached in-process (schema ids never
change meaning): register a schema under a subject, fetch a schema by id.

Error policy: connection failures, HTTP errors and unreadable answers raise
RegistryError naming the URL (credentials stripped), the request and the HTTP
status; the password never appears in a message. Nothing is retried here: the
caller decides (a registry outage is not a poison message).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from .errors import RegistryError

__all__ = ["RegistryClient"]

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryClient:
    """Confluent Schema Registry REST client: ``register`` and ``get_schema``.

    Credentials may be given as arguments or in the URL (``https://user:pw@host``);
    ``password`` may be a pydantic ``SecretStr``.
    """

    def __init__(
        self,
        url: str,
        username: str | None = None,
        password: Any = None,
        timeout_s: float = 10.0,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(url)
        username = username or parts.username
        secret = _secret(password) or parts.password
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host  # credentials dropped from the URL we show
        if parts.port:
            netloc += f":{parts.port}"
        self.url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self._secret = secret
        # What a proxy that echoes request headers would show: the basic-auth token too.
        self._tokens = [t for t in (secret, _basic_token(username, secret)) if t]
        self._client = httpx.Client(
            base_url=self.url,
            auth=(username, secret or "") if username else None,
            timeout=timeout_s,
            headers={"Accept": f"{_CONTENT_TYPE}, application/json"},
            transport=transport,
        )
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, dict] = {}

    @classmethod
    def from_settings(cls, settings: Any) -> RegistryClient:
        """Build from an object with ``url``, ``username``, ``password``, ``timeout_s`` (RegistrySettings)."""
        return cls(settings.url, settings.username, settings.password, settings.timeout_s)

    def __repr__(self) -> str:
        return f"RegistryClient(url={self.url!r})"

    def register(self, subject: str, schema_json: str | dict) -> int:
        """Register ``schema_json`` under ``subject`` (idempotent) and return its global id."""
        text = schema_json if isinstance(schema_json, str) else json.dumps(schema_json, separators=(",", ":"))
        key = (subject, text)
        if key not in self._ids:
            path = f"/subjects/{quote(subject, safe='')}/versions"
            answer = self._request("POST", path, content=json.dumps({"schema": text}))
            schema_id = answer.get("id") if isinstance(answer, dict) else None
            if not isinstance(schema_id, int) or isinstance(schema_id, bool):
                raise self._error(f"POST {path}: answer has no integer 'id': {answer!r:.200}")
            self._ids[key] = schema_id
            self._schemas.setdefault(schema_id, json.loads(text))
        return self._ids[key]

    def get_schema(self, schema_id: int) -> dict:
        """The schema (parsed JSON) registered under the global id ``schema_id``."""
        if schema_id not in self._schemas:
            path = f"/schemas/ids/{int(schema_id)}"
            answer = self._request("GET", path)
            try:
                schema = json.loads(answer["schema"])
            except (KeyError, TypeError, ValueError) as exc:
                raise self._error(f"GET {path}: answer has no readable 'schema': {answer!r:.200}") from exc
            self._schemas[schema_id] = schema
        return self._schemas[schema_id]

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _request(self, method: str, path: str, content: str | None = None) -> Any:
        headers = {"Content-Type": _CONTENT_TYPE} if content is not None else None
        try:
            response = self._client.request(method, path, content=content, headers=headers)
        except httpx.HTTPError as exc:  # connect/read timeouts, refused, DNS...
            raise self._error(f"{method} {path} failed: {type(exc).__name__}: {exc}") from exc
        if response.is_error:
            detail = _detail(response)
            raise self._error(f"{method} {path} -> HTTP {response.status_code}: {detail}", response.status_code)
        try:
            return response.json()
        except ValueError as exc:
            raise self._error(f"{method} {path} -> HTTP {response.status_code}: answer is not JSON") from exc

    def _error(self, message: str, status: int | None = None) -> RegistryError:
        text = f"schema registry {self.url}: {message}"
        for token in self._tokens:  # a proxy or registry may echo a request back: never show it
            text = text.replace(token, "***")
        text = _AUTH_HEADER.sub(r"\1***", text)
        return RegistryError(text, url=self.url, status=status)


_AUTH_HEADER = re.compile(r"(?i)\b((?:basic|bearer)\s+)[A-Za-z0-9+/=._~-]+")


def _basic_token(username: str | None, secret: str | None) -> str | None:
    if not username:
        return None
    return base64.b64encode(f"{username}:{secret or ''}".encode()).decode()


def _secret(password: Any) -> str | None:
    if password is None:
        return None
    getter = getattr(password, "get_secret_value", None)
    return getter() if callable(getter) else str(password)


def _detail(response: httpx.Response) -> str:
    """The registry's own error message (``{"error_code": ..., "message": ...}``), shortened."""
    try:
        body = response.json()
        text = f"{body.get('message')} (error_code {body.get('error_code')})" if isinstance(body, dict) else str(body)
    except ValueError:
        text = response.text
    return text[:200] or response.reason_phrase
