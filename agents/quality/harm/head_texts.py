"""The labeled texts the heads on sentence vectors (salad, injection) are trained on.

The development files under ``tests/data/quality`` (never a ``*_holdout.jsonl`` file), one
fold per file, and the package's own voice (the labeled insights of ``tests/data`` and the
generator's seed exemplars) as one more fold, ``package``, all negatives.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path

from kasper.agents.quality.exemplars import seed_exemplars

ROOT = Path(__file__).resolve().parents[3]
DEV = ROOT / "tests" / "data" / "quality"
LABELED = ROOT / "tests" / "data" / "insights_labeled.jsonl"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def texts(files: Sequence[str], positive: str, negatives: Collection[str] | None = None) -> list[dict]:
    """``{fold, text, <positive>, good}`` rows: the texts of ``files`` labeled ``positive``
    or one of ``negatives`` (every label when None), then the package's texts."""
    out = [{"fold": name, "text": row["text"], positive: row["label"] == positive, "good": row["label"] == "good"}
           for name in files for row in _lines(DEV / name)
           if negatives is None or row["label"] == positive or row["label"] in negatives]
    out += [{"fold": "package", "text": row["text"], positive: False, "good": row["label"] == "good"}
            for row in _lines(LABELED)]
    out += [{"fold": "package", "text": e.text, positive: False, "good": True}
            for exemplars in seed_exemplars().values() for e in exemplars]
    return out
