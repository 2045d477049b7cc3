"""The judge's errors, at the bottom of the judging package so that every module can raise them.

Every error is a ``KasperError``; messages never contain the API key::

    KasperError
    └── JudgeError                 no verdict for this request
        ├── JudgeUnavailable           the judge cannot be used now: retries on 408/409/429/5xx,
        │                              timeouts, closed connections, non-JSON bodies exhausted,
        │                              or 401/403/404 (key, model). Not the record's fault.
        ├── JudgeRequestError          any other 4xx: the server refused this request
        ├── JudgeRefused               the model refused (refusal field, content filter, "I can't")
        └── JudgeUnparseable           no usable scores after re-asking (empty, prose, out of range)

The parser (:mod:`~kasper.agents.judging.parse`) raises the last two, the client
(:mod:`~kasper.agents.judging.client`) the first two; what the caller does with each
is the role's policy (:mod:`kasper.agents.judge`).
"""

from __future__ import annotations

from kasper.schemas.errors import KasperError


class JudgeError(KasperError):
    """The judge gave no verdict; ``reason`` is a short metric-safe word."""

    def __init__(self, message: str, *, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason


class JudgeUnavailable(JudgeError):
    """The judge server cannot be used now (outage, rate limit, auth, unknown model)."""


class JudgeRequestError(JudgeError):
    """The server rejected this request (4xx other than 408/409/429/401/403/404)."""


class JudgeRefused(JudgeError):
    """The model refused to judge the text."""


class JudgeUnparseable(JudgeError):
    """The model's answer held no usable scores."""
