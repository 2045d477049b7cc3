"""Thumbs the serving model has not learned yet, carried from one window to the next.

Feedback is sparse: a window closed by time or by approved records may hold only a
handful of thumbs, too few for a preference objective to learn from, and a window
whose candidate is not promoted would otherwise take its thumbs with it. So each
decided window that is *not* promoted leaves its training thumbs (``thumbs.jsonl``
rows of split ``train``) in the tier's carry store, and the next window of the tier
trains on them beside its own; so does a window too small to train at all (one
thumb, where KTO needs two), which is dead-lettered as empty. A promotion empties the store: the promoted adapter
learned them, and the next candidate starts from it (it would only push the same
examples further from a reference that already holds them).

Only a tier whose objective setting can train on thumbs carries them (:func:`wanted`:
``auto`` or one naming ``kto``); a tier set to ``sft`` or ``dpo`` keeps no store.

The store is ``<adapters_dir>/.carry/<tier>.jsonl``: the window's rows as written
(already audited and redacted, no user hash), deduplicated by insight id (the
newest kept), at most ``cap`` rows, the oldest dropped, replaced atomically. Held-out
thumbs are never carried: they stay held out (:mod:`kasper.trainer.eval_set`).

Error policy: a missing store is empty; a store line that is not JSON, or not a thumbs
row, is skipped (the next rewrite drops it); OS errors writing the store propagate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .files import read_lines, write_lines
from .preference import THUMBS_FILE, parse_objective, read_rows, with_carried
from .windows import checked_name

CARRY_DIR = ".carry"


def carry_path(adapters_dir: Path, tier: str) -> Path:
    return Path(adapters_dir) / CARRY_DIR / f"{checked_name(tier, 'tier')}.jsonl"


def wanted(objective: str) -> bool:
    """Whether a tier with this objective setting trains on carried thumbs: ``auto`` (KTO
    once its windows hold two thumbs) or a setting naming ``kto``."""
    parts = parse_objective(objective)
    return parts is None or "kto" in parts


def carried(adapters_dir: Path, tier: str) -> list[dict[str, Any]]:
    """The tier's carried thumbs rows, oldest first."""
    fields = {"prompt", "completion", "label", "insight_id"}
    return [r for r in read_lines(carry_path(adapters_dir, tier)) if isinstance(r, dict) and fields <= r.keys()]


def after_decision(adapters_dir: Path, tier: str, window_dir: Path, promoted: bool, cap: int) -> int:
    """Update the carry store once a window is decided; returns how many rows it now holds.

    Promoted: emptied. Not promoted: the window's training thumbs join what was carried
    (rows without an insight id, as a plain data directory may have, are not carried).
    """
    path = carry_path(adapters_dir, tier)
    if promoted or cap <= 0:
        path.unlink(missing_ok=True)
        return 0
    own = [r for r in read_rows(window_dir, THUMBS_FILE, ("train",)) if r.get("insight_id")]
    rows = with_carried(own, carried(adapters_dir, tier))
    rows = rows[-cap:]  # oldest first: the cap drops the oldest
    write_lines(path, rows)
    return len(rows)
