"""The persistent evaluation set a promotion is decided on.

Two parts, both outside the window being decided:

- the **golden set** shipped with the package (``streams/data/golden.json``, package data):
  prompts over every domain and tier with a reference insight written for the
  package. Its version (``GOLDEN_VERSION``) is recorded with the metrics;
  changing any example must bump it, or scores stop being comparable;
- the **held-out store**: the ``valid``/``test`` examples of every window the
  tier has decided, one JSON line each in ``<adapters_dir>/.eval/<tier>.jsonl``
  (deduplicated by example id, at most ``cap`` lines, the oldest dropped,
  replaced atomically).

An example's id is a hash of its chat messages (SFT lines carry no insight id;
the same approved insight always gives the same line).

Why a window is never evaluated on its own training examples: a window's
split is a hash of the insight id (:func:`kasper.trainer.dataset.split_of`), so
an insight held out once is held out in every window; the deciding window's
held-out lines join the store only after its decision; and whatever the split
policy, any example whose id is among the deciding window's ``train.jsonl``
lines is left out of its evaluation set, and removed from the store when the
window's lines join it (later adapters may continue from this one).

Error policy: a missing store is empty; a store line that is not JSON is
skipped (the rewrite drops it); OS errors writing the store propagate.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from kasper.agents.quality.prompts import build_messages
from kasper.streams.settings import DEFAULT_TEMPLATE

from .files import read_lines, write_lines
from .windows import checked_name

STORE_DIR = ".eval"
GOLDEN_FILE = "data/golden.json"


@dataclass(frozen=True)
class EvalExample:
    """One chat example (system, user, assistant) and where it came from."""

    id: str
    messages: tuple[dict[str, str], ...]
    source: str  # "golden", "store" or "window"


@lru_cache(maxsize=1)
def _golden() -> dict[str, Any]:
    return json.loads(resources.files("kasper.streams").joinpath(GOLDEN_FILE).read_text())


GOLDEN_VERSION: str = _golden()["version"]


def golden_prompts(count: int | None = None, tier: str = "standard") -> list[dict[str, Any]]:
    """The first ``count`` golden prompts (all by default) as PromptEvent-like dicts.

    Ordered round-robin over domains, so a short prefix still covers many of them.
    """
    rows = _spread(_golden()["examples"])
    return [{"prompt_id": e["id"], "domain": e["domain"], "tier": tier, "context": dict(e["context"]),
             "instructions": e.get("instructions"), "revise_notes": None, "reference": e["reference"]}
            for e in rows[:count]]


def _spread(examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_domain: dict[str, list[dict[str, Any]]] = {}
    for e in examples:
        by_domain.setdefault(e["domain"], []).append(e)
    out, depth = [], max(len(v) for v in by_domain.values())
    for i in range(depth):
        out += [v[i] for v in by_domain.values() if i < len(v)]
    return out


def golden_examples(template_version: str = DEFAULT_TEMPLATE, count: int | None = None) -> list[EvalExample]:
    """The first ``count`` golden prompts (all by default, round-robin over domains) with
    their references as the answers, in the window files' chat format."""
    out = []
    for p in golden_prompts(count):
        messages = [*build_messages(p, template_version), {"role": "assistant", "content": p["reference"]}]
        out.append(EvalExample(example_id(messages), tuple(messages), "golden"))
    return out


def example_id(messages: Iterable[dict[str, str]]) -> str:
    canonical = json.dumps(list(messages), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def _rows(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of ``path`` that hold a ``messages`` list, with their ``id`` filled in."""
    out = []
    for row in read_lines(path):
        try:
            messages = list(row["messages"])
        except (KeyError, TypeError):
            continue
        out.append({**row, "id": row.get("id") or example_id(messages), "messages": messages})
    return out


def _read_lines(path: Path, source: str) -> list[EvalExample]:
    return [EvalExample(r["id"], tuple(r["messages"]), source) for r in _rows(path)]


def window_heldout(window_dir: Path) -> list[EvalExample]:
    """The window's own ``test`` then ``valid`` SFT lines."""
    return [e for name in ("test", "valid") for e in _read_lines(Path(window_dir) / f"{name}.jsonl", "window")]


def window_train_ids(window_dir: Path) -> set[str]:
    return {e.id for e in _read_lines(Path(window_dir) / "train.jsonl", "window")}


def store_path(adapters_dir: Path, tier: str) -> Path:
    return Path(adapters_dir) / STORE_DIR / f"{checked_name(tier, 'tier')}.jsonl"


def stored(adapters_dir: Path, tier: str) -> list[EvalExample]:
    """The tier's held-out store, oldest first."""
    return _read_lines(store_path(adapters_dir, tier), "store")


def evaluation_set(adapters_dir: Path, tier: str, window_dir: Path,
                   template_version: str = DEFAULT_TEMPLATE, golden_count: int | None = None) -> list[EvalExample]:
    """Golden set, then the store, then the window's own held-out lines: deduplicated by id
    (first kept) and without any example the window trains on."""
    exclude = window_train_ids(window_dir)
    seen: set[str] = set()
    out = []
    for e in [*golden_examples(template_version, golden_count), *stored(adapters_dir, tier), *window_heldout(window_dir)]:
        if e.id not in seen and e.id not in exclude:
            seen.add(e.id)
            out.append(e)
    return out


def add_to_store(adapters_dir: Path, tier: str, window_dir: Path, window_id: str, cap: int) -> int:
    """Append the decided window's held-out lines to the tier's store; returns how many were new.

    Lines the window trained on are dropped from the store; then the oldest beyond ``cap`` go.
    """
    exclude = window_train_ids(window_dir)
    path = store_path(adapters_dir, tier)
    # A stored line this window trained on is no longer held out for the adapters that follow.
    rows = [{"id": r["id"], "messages": r["messages"], "window_id": r.get("window_id")}
            for r in _rows(path) if r["id"] not in exclude]
    known = {r["id"] for r in rows}
    added = 0
    for e in window_heldout(window_dir):
        if e.id in known or e.id in exclude:
            continue
        known.add(e.id)
        rows.append({"id": e.id, "messages": list(e.messages), "window_id": window_id})
        added += 1
    write_lines(path, rows[-cap:] if cap > 0 else [])  # oldest first: the cap drops the oldest
    return added
