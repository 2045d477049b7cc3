"""What the incumbent scored, kept between evaluations.

Every window's decision measures the candidate and the incumbent on the same
examples and golden prompts. The incumbent rarely changes between two windows
(the base model until something is promoted), and its numbers are deterministic:
per-example losses are forward passes, golden answers are sampled with fixed seeds. So they are
kept per tier in ``<adapters_dir>/.eval/<tier>-incumbent.json`` and an
evaluation computes only what is missing. Keys:

- the **model**: the base model's source sha256 (its prepared manifest; the
  weight files' names, sizes and mtimes when there is none) plus the adapter
  file's sha256; another model empties the file;
- a **held-out example**: its messages and the tier's ``max_seq_length`` and
  ``mask_prompt`` (what its loss depends on);
- the **golden answers**: each request's messages, sampling and seeds. The
  answers' texts are kept, not their scores, so a new rubric scores them anew.

The candidate's numbers are written the same way (``<tier>-candidate.json``); when it
is promoted that file becomes the incumbent's, so the next window does not measure
the model it just measured. A file also takes the entries of the other tiers' files
measured on the same model (:func:`on_model`): each tier's first window measures the
base model on the same golden examples, and now only the first of them computes them.

Error policy: an unreadable or malformed file is treated as empty (logged) and
replaced at the next write; the file is replaced atomically; OS errors writing
it are logged and the evaluation goes on without the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

from kasper.agents.runtime.backend import GenRequest
from kasper.agents.runtime.model_store import MANIFEST
from kasper.streams.logs import get_logger

from .adapters import ADAPTER_CONFIG, ADAPTER_FILE
from .eval_set import STORE_DIR
from .windows import checked_name

log = get_logger(__name__)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def model_key(model_dir: Path, adapter_dir: Path | None) -> str:
    """Names the weights an evaluation ran: base model and adapter."""
    try:
        base: Any = json.loads((Path(model_dir) / MANIFEST).read_text())["source"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        base = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                      for p in Path(model_dir).glob("*.safetensors"))
    adapter = None
    if adapter_dir is not None:
        adapter = [hashlib.sha256((Path(adapter_dir) / name).read_bytes()).hexdigest()
                   for name in (ADAPTER_FILE, ADAPTER_CONFIG)]
    return _digest([base, adapter])


def example_key(messages: Sequence[dict[str, str]], max_seq_length: int, mask_prompt: bool) -> str:
    # "answer": the loss counts the answer's tokens only (earlier files also counted the
    # padding token after a row's end, as mlx-lm's default_loss does): their numbers differ.
    return _digest([list(messages), max_seq_length, mask_prompt, "answer"])


def probes_key(requests: Sequence[GenRequest]) -> str:
    """Golden answers depend on each request's messages, sampling and seeds."""
    return _digest([[list(r.messages), dataclasses.asdict(r.sampling), r.seed, r.redraw_seed]
                    for r in requests])


class IncumbentCache:
    """One tier's cached incumbent numbers; :meth:`save` writes what was added."""

    def __init__(self, adapters_dir: Path, tier: str, model: str, role: str = "incumbent") -> None:
        self._stem = Path(adapters_dir) / STORE_DIR / checked_name(tier, "tier")
        self.path = self._stem.with_name(f"{self._stem.name}-{role}.json")
        self.model = model
        self.losses: dict[str, list[float]] = {}
        self.probes: dict[str, list[str]] = {}
        self.hits = self.misses = 0
        for data in on_model(self.path, "*-incumbent.json", model, "incumbent evaluation cache"):
            for k, v in _dict(data.get("losses")).items():
                if isinstance(v, list) and len(v) == 2:
                    self.losses.setdefault(k, list(v))
            for k, v in _dict(data.get("probes")).items():
                if isinstance(v, list):
                    self.probes.setdefault(k, list(v))

    def promote(self) -> None:
        """This (a candidate's) file becomes its tier's incumbent file: the next window's
        evaluation of the newly serving model starts from the numbers measured now."""
        try:
            os.replace(self.path, self._stem.with_name(f"{self._stem.name}-incumbent.json"))
        except OSError as exc:
            log.warning("candidate evaluation cache not kept", path=str(self.path), error=str(exc)[:300])

    def save(self, keep_losses: Sequence[str]) -> None:
        """Write the cache, keeping the losses of ``keep_losses`` (this evaluation's examples)."""
        keep = set(keep_losses)
        write_cache(self.path, {"model": self.model, "probes": self.probes,
                                "losses": {k: v for k, v in self.losses.items() if k in keep}},
                    "incumbent evaluation cache")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_cache(path: Path, what: str) -> dict[str, Any]:
    """A cache file's JSON object; empty when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning(f"{what} unreadable: computing anew", path=str(path), error=str(exc)[:300])
        return {}
    return data if isinstance(data, dict) else {}


def on_model(path: Path, pattern: str, model: str, what: str) -> list[dict[str, Any]]:
    """The cache file at ``path``, then the other files beside it matching ``pattern`` (other
    tiers'), each only if it was measured on ``model``. Until a promotion the base model
    serves every tier, and a value depends on the model and its key only, so a tier's first
    window can take what another tier's measured (its own file's values go first)."""
    others = sorted(other for other in path.parent.glob(pattern) if other != path)
    return [data for data in (read_cache(file, what) for file in [path, *others])
            if data.get("model") == model]


def write_cache(path: Path, data: dict[str, Any], what: str) -> None:
    """Replace a cache file atomically; an OS error is logged, not raised."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError as exc:
        log.warning(f"{what} not written", path=str(path), error=str(exc)[:300])
