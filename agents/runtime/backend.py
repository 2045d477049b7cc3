"""Generation backends: the local MLX model (default) or any OpenAI-compatible server.

A backend turns chat requests into texts, one result per request, in order. It
knows nothing about Kafka or Avro: the generate stage (``agents/generation.py``)
builds the requests and the records around them.

Errors a backend raises, and what the stage does with them:

- :class:`GenerationError`: this batch (raised) or this request (returned in its
  place) failed; the stage retries the prompts one by one, then dead-letters those
  that fail again.
- :class:`BackendUnavailable`: the backend itself is down or misconfigured (server
  unreachable after retries, bad credentials, unknown model): retrying prompts
  cannot help, so the worker stops without committing and the prompts wait.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from kasper.schemas.errors import KasperError

# (request index in the batch, delta text, done): called from the generation thread.
OnDelta = Callable[[int, str, bool], None]
# (request index in the batch, its result): called in the event loop as soon as that
# request is done, before ``generate`` returns (failed requests are not reported).
OnResult = Callable[[int, "GenResult"], None]


class GenerationError(KasperError):
    """Generation failed for a batch or a request (retryable once per prompt)."""


class BackendUnavailable(KasperError):
    """The backend cannot serve anything right now; the worker must stop, not dead-letter."""


# The words an insight written to "you" has little use for: its writer speaking of
# themselves is the commonest drift of a small model (an assistant, a diary), as a
# tokenizer sees them (alone and after a space). ``Sampling.first_person_bias`` is
# added to the logits of those that are one token.
FIRST_PERSON = tuple(text for word in ("I", "me", "my", "My", "myself", "mine") for text in (word, " " + word))


@dataclass(frozen=True)
class Sampling:
    """Decoding parameters, recorded in every Insight."""

    temperature: float = 0.7
    top_p: float = 0.9
    max_tokens: int = 160
    # Guards (agents/runtime/guards.py; 1.0 / 0 turn one off). Backends that cannot
    # apply one ignore it: the OpenAI-compatible backend sends them only to a
    # llama-server, as its own samplers (``guards=llama.cpp``, openai_backend.py).
    repetition_penalty: float = 1.0
    loop_ngram: int = 0
    copy_ngram: int = 0
    stop_at_labels: tuple[str, ...] = ()
    # Added to the logits of the first-person words ("I", "my"): below 0, the model
    # keeps to "you" unless it strongly prefers otherwise.
    first_person_bias: float = 0.0


@dataclass(frozen=True)
class Served:
    """What serves a tier: base model name, adapter version (None = base alone), version key."""

    model: str
    adapter_version: str | None

    @property
    def version_key(self) -> str:
        """The model version that enters ``insight_id``: changes whenever the weights do."""
        return f"{self.model}+{self.adapter_version or 'base'}"


@dataclass(frozen=True)
class GenRequest:
    """One prompt to generate: chat messages, its tier, sampling and seed."""

    messages: list[dict[str, str]]
    tier: str
    sampling: Sampling
    seed: int
    # How many leading messages (system + few-shot turns) are shared by many requests:
    # a backend with a prefix cache computes them once.
    prefix_messages: int = 0
    # What a canary split of the tier is decided on (the prompt id: runtime/canary.py),
    # so every draw and redelivery of a prompt goes to the same version; None: the
    # tier's full model.
    split_key: str | None = None
    # A backend that can draw again inside its running batch does so with this seed when
    # a guard stops the row at its start (``GenResult.draws`` says it did); None: the
    # caller draws again itself.
    redraw_seed: int | None = None


# A row a guard stops with nothing to keep within this many tokens was stopped at its
# start (it opened with a label or a copy): the caller draws it again. Later, the
# live token stream has shown the row to readers, so it is kept as it is.
START_TOKENS = 32


@dataclass(frozen=True)
class GenResult:
    """One generated text with its token counts and wall-clock latency."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    finish_reason: str = "stop"
    # A guard stopped the row within its first START_TOKENS tokens with nothing to
    # keep: the text is only what it caught (a field label, a copy of the prompt),
    # worth a fresh draw before it is kept.
    stopped_at_start: bool = False
    # The model that wrote it, when the backend chose among several for the tier (a
    # canary split); None: the one ``serving(tier)`` named.
    served: Served | None = None
    # Draws the backend made (2: it drew again after a stop at the start, and the text is
    # the second draw unless that one stopped at its start too) and the seed of the
    # draw whose text this is (None: the request's).
    draws: int = 1
    seed: int | None = None


class Backend(Protocol):
    """What the generate stage needs from a backend."""

    name: str

    async def start(self) -> None:
        """Load models / open clients; called once before the first batch."""

    def serving(self, tier: str) -> Served:
        """The model that serves ``tier`` right now (during a canary: the incumbent,
        which serves the prompts the canary does not)."""

    async def generate(self, requests: list[GenRequest], on_delta: OnDelta | None = None,
                       on_result: OnResult | None = None) -> list[GenResult | GenerationError]:
        """One result per request, in order; ``on_result`` gets each as soon as it is done.

        A ``GenerationError`` in place of a result fails that request only; raised,
        it fails the whole batch. ``BackendUnavailable`` is always raised.
        """

    async def close(self) -> None:
        """Release models and clients."""
