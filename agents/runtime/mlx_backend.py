"""The local MLX backend: one model per tier (base, or base + a LoRA adapter version).

All MLX work (loading, generating) runs on one dedicated thread, so the event loop
keeps heartbeating while a batch generates and MLX state is never shared between
threads. Requests go to the engine of the model that serves their tier: its
scheduler admits them into the running batch as slots free up
(``runtime/scheduler.py``), so concurrent ``generate`` calls share the slots.
Results come back in request order.

Adapters: a ModelVersion names an mlx-lm adapter directory (``adapter_config.json``
+ ``adapters.safetensors``) and the SHA-256 of its weights file. Loading checks the
hash, loads base + adapter, and fuses the LoRA weights into the linear layers
(decode does fewer ops per step). Any failure raises ``ModelError`` and the tier
keeps its current model (the caller reports it).

Canary: a ModelVersion with a ``canary_share`` loads two models for its tier, the
incumbent it names and the canary, before either serves; each request then goes to
the one :func:`~kasper.agents.runtime.canary.to_canary` picks for its split key, and
its result names that model. A model already loaded for any tier is reused.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kasper.agents.runtime import model_store
from kasper.agents.runtime.backend import (
    GenerationError,
    GenRequest,
    GenResult,
    OnDelta,
    OnResult,
    Served,
)
from kasper.agents.runtime.guards import GuardSpec, first_person_bias, trim_to_sentence
from kasper.agents.runtime.mlx_engine import DEFAULT_TOP_K, Cancelled, Engine, Row
from kasper.agents.runtime.blas import MLXThread
from kasper.agents.runtime.canary import canary_share, incumbent_record, to_canary
from kasper.agents.runtime.model_store import ModelError
from kasper.streams.logs import get_logger
from kasper.streams.settings import GenerateSettings, ModelSettings

ADAPTER_WEIGHTS = "adapters.safetensors"
TIERS = ("lite", "standard", "pro")

log = get_logger(__name__)


@dataclass
class Loaded:
    """A model ready to generate: what it is (``served``) and its engine."""

    served: Served
    engine: Engine
    adapter_path: str | None = None


class MLXBackend:
    """Generates with local MLX models; ``apply_version`` swaps a tier's adapter."""

    name = "mlx"

    def __init__(self, model_settings: ModelSettings | None = None,
                 settings: GenerateSettings | None = None) -> None:
        self.model_settings = model_settings or ModelSettings()
        self.top_k = (settings or GenerateSettings()).top_k
        self.model_dir: Path | None = None
        self._tiers: dict[str, Loaded] = {}
        self._canaries: dict[str, tuple[Loaded, float]] = {}  # tier -> (canary, its share)
        self._mlx = MLXThread("kasper-mlx")
        self.last_stats: list = []
        self._closing = False
        # Running engine drains (MLX thread calls), kept referenced until they end.
        self._drains: set[asyncio.Future] = set()
        # Every engine rows were submitted to, swapped-out ones too (cancel reaches them).
        self._engines: weakref.WeakSet[Engine] = weakref.WeakSet()

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await self._mlx.run(fn, *args)

    async def start(self) -> None:
        """Prepare (first run only) and load the base model for every tier."""
        if self._tiers:
            return
        self.model_dir = await self._run(model_store.resolve_model_dir, self.model_settings)
        base = await self._run(self._load, None, None)
        self._tiers = dict.fromkeys(TIERS, base)

    def serving(self, tier: str) -> Served:
        """The tier's full model (during a canary: the incumbent)."""
        return self._tiers[tier].served

    def canary(self, tier: str) -> tuple[Served, float] | None:
        """The tier's canary and its share, if one runs."""
        canary = self._canaries.get(tier)
        return None if canary is None else (canary[0].served, canary[1])

    def _route(self, request: GenRequest) -> Loaded:
        """The model that writes ``request``: the canary for its share of split keys."""
        canary = self._canaries.get(request.tier)
        if canary is not None and request.split_key is not None and to_canary(request.split_key, canary[1]):
            return canary[0]
        return self._tiers[request.tier]

    def tiers(self) -> dict[str, Served]:
        """Every tier's current model."""
        return {tier: loaded.served for tier, loaded in self._tiers.items()}

    async def generate(self, requests: list[GenRequest], on_delta: OnDelta | None = None,
                       on_result: OnResult | None = None) -> list[GenResult]:
        """Submit the requests to their models' engines; results in request order, and each
        to ``on_result`` as soon as its row is done.

        Concurrent calls share the engines' running batches (continuous batching): a
        caller that submits its next batch before the last one's tail has finished keeps
        the slots busy. Rows are bound to the engine that serves their tier now, so a
        hot swap does not change the model under running rows.
        """
        if self._closing:
            raise Cancelled("the backend is closing")
        groups: dict[int, tuple[Loaded, list[int]]] = {}
        for index, request in enumerate(requests):
            loaded = self._route(request)
            groups.setdefault(id(loaded), (loaded, []))[1].append(index)
        results: list[GenResult | None] = [None] * len(requests)
        pending = []
        loop = asyncio.get_running_loop()
        try:
            for loaded, indices in groups.values():
                engine = loaded.engine
                rows = [engine_row(engine, requests[i]) for i in indices]
                relay = None if on_delta is None else (lambda row, d, done, ix=indices: on_delta(ix[row], d, done))
                on_row = None
                if on_result is not None:
                    # Queued on the loop before the future's result is: it runs before we return.
                    def on_row(row: int, out: Any, ix: list[int] = indices, loaded: Loaded = loaded) -> None:
                        loop.call_soon_threadsafe(on_result, ix[row], _result(out, loaded))
                future, start = engine.submit(rows, relay, on_row)
                self._engines.add(engine)
                if start:
                    self._drains.add(asyncio.ensure_future(self._run(engine.drain)))
                pending.append((indices, loaded, asyncio.wrap_future(future)))
            self.last_stats = []
            for indices, loaded, future in pending:
                engine = loaded.engine
                outputs = await future
                for index, o in zip(indices, outputs):
                    results[index] = _result(o, loaded)
                self.last_stats.append(engine.last_stats)
        except (RuntimeError, ValueError, MemoryError) as exc:  # MLX and tokenizer failures
            raise GenerationError(f"mlx generation failed: {type(exc).__name__}: {exc}") from exc
        finally:
            self._drains = {d for d in self._drains if not d.done()}
        return results  # type: ignore[return-value]

    # --- model versions ------------------------------------------------------

    async def apply_version(self, version: dict[str, Any]) -> Served | None:
        """Serve ``version``'s tier with its adapter (or the base model); ``ModelError`` if not.

        A canary (``canary_share`` set) loads its incumbent and itself before either
        serves, and returns the canary's model; ``CanaryError`` for a share outside (0, 1).
        """
        tier, share = version["tier"], canary_share(version)
        if share is None:
            loaded = await self._loaded(version)
            self._tiers[tier] = loaded
            self._canaries.pop(tier, None)
            return loaded.served
        incumbent = await self._loaded(incumbent_record(version))
        canary = await self._loaded(version)
        self._tiers[tier], self._canaries[tier] = incumbent, (canary, share)
        return canary.served

    async def _loaded(self, version: dict[str, Any]) -> Loaded:
        """``version``'s model: one already loaded (a replay of the topic, another tier's) or a new one."""
        path, label = version.get("adapter_path"), version["version"]
        return self._reuse(path, label) or await self._run(
            self._load, path, label, version.get("adapter_sha256"))

    def _models(self) -> tuple[Loaded, ...]:
        """Every model serving now: each tier's, and each running canary."""
        return (*self._tiers.values(), *(canary for canary, _ in self._canaries.values()))

    def _reuse(self, path: str | None, label: str) -> Loaded | None:
        for loaded in self._models():
            if loaded.adapter_path == path and (path is None or loaded.served.adapter_version == label):
                return loaded
        return None

    def _load(self, adapter_path: str | None, label: str | None, sha256: str | None = None) -> Loaded:
        assert self.model_dir is not None
        if adapter_path is not None:
            _check_adapter(Path(adapter_path), sha256)
        if adapter_path is None:  # the base model: the same copy as the embedded judge's
            model, tokenizer = model_store.load_shared(self.model_dir)
        else:
            model, tokenizer = model_store.load(self.model_dir, adapter_path)
            fuse_lora(model)
        served = Served(self.model_dir.name, label if adapter_path else None)
        log.info("model loaded", model=served.model, adapter_version=served.adapter_version,
                 adapter_path=adapter_path)
        return Loaded(served, Engine(model, tokenizer, self.top_k or DEFAULT_TOP_K), adapter_path)

    def cancel(self) -> None:
        """Fail the rows queued or running now (thread-safe); their prompts were not acked."""
        for engine in {*(loaded.engine for loaded in self._models()), *self._engines}:
            engine.cancel()

    async def close(self) -> None:
        """Stop generating and end the MLX thread (a live MLX thread aborts the interpreter at exit)."""
        self._closing = True
        self.cancel()
        # The running step finishes within a fraction of a second after cancel().
        await self._mlx.close()
        self._tiers, self._canaries = {}, {}


def _result(o: Any, loaded: Loaded) -> GenResult:
    """A row's output (``RowOutput``) as the backend's result."""
    return GenResult(finished_text(o.text, o.finish_reason), o.prompt_tokens, len(o.tokens),
                     o.seconds * 1000.0, o.finish_reason, o.stopped_at_start, loaded.served, o.draws, o.seed)


def engine_row(engine: Engine, request: GenRequest) -> Row:
    """``request`` as a row of ``engine``: its chat tokens, shared prefix, sampling and guards."""
    template = engine.tokenizer.apply_chat_template
    tokens = list(template(request.messages, add_generation_prompt=True))
    prefix = 0
    if request.prefix_messages:
        shared = list(template(request.messages[:request.prefix_messages]))
        prefix = len(shared) if tokens[:len(shared)] == shared else 0
    s = request.sampling
    guard = GuardSpec(s.loop_ngram, s.copy_ngram, _copy_source(engine, request), s.stop_at_labels)
    bias = first_person_bias(_encode(engine), s.first_person_bias) if s.first_person_bias else ()
    return Row(tokens, s.max_tokens, s.temperature, s.top_p, request.seed,
               repetition_penalty=s.repetition_penalty, guard=guard, prefix=prefix, logit_bias=bias,
               redraw_seed=request.redraw_seed if guard.active else None)


def _encode(engine: Engine):
    return lambda text: engine.tokenizer.encode(text, add_special_tokens=False)


def _copy_source(engine: Engine, request: GenRequest) -> tuple[int, ...]:
    """The tokens a row must not copy: every message but the system one (the context
    block, the user's words, the few-shot examples)."""
    if not request.sampling.copy_ngram:
        return ()
    encode = _encode(engine)
    return tuple(t for m in request.messages if m["role"] != "system" for t in encode(m["content"]))


def finished_text(text: str, finish_reason: str) -> str:
    """A row a guard or the token limit stopped mid-sentence ends at its last whole sentence."""
    return text if finish_reason == "stop" else trim_to_sentence(text)


def _check_adapter(path: Path, sha256: str | None) -> None:
    weights = path / ADAPTER_WEIGHTS
    if not weights.is_file() or not (path / "adapter_config.json").is_file():
        raise ModelError(f"adapter {path}: no {ADAPTER_WEIGHTS} + adapter_config.json there")
    if sha256:
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
        if digest != sha256.lower():
            raise ModelError(f"adapter {path}: sha256 {digest} does not match the announced {sha256}")


def fuse_lora(model: Any) -> None:
    """Fold LoRA weights into their linear layers (same outputs, fewer ops per step)."""
    from mlx.utils import tree_unflatten

    fused = [(name, module.fuse()) for name, module in model.named_modules() if hasattr(module, "fuse")]
    if fused:
        model.update_modules(tree_unflatten(fused))
