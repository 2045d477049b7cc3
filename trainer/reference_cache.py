"""The reference model's values per training row, kept between windows.

A preference plan runs the reference model over every row it trains on
(:func:`kasper.trainer.preference.plan`): KTO's thumbed answers and their
mismatched KL rows, DPO's pairs, the anchor's texts. Most of those rows come
back window after window while the reference stays the same: the anchor's seed
exemplars are in every window, and the thumbs a candidate that was not promoted
trained on are carried into the next one (:mod:`kasper.trainer.carry`). The
reference is the serving model, which changes only at a promotion. So the values
are kept per tier in ``<adapters_dir>/.eval/<tier>-reference.json`` and a plan
computes only the rows it lacks.

Keys:

- the **model**: the base model and the adapter training starts from
  (:func:`kasper.trainer.eval_cache.model_key`); another model empties the file.
  A new LoRA layer adds exactly zero before its first step, so a run from the
  base model has the base model's references whatever the LoRA shape, and a run
  from an adapter has that adapter's shape. So the other tiers' files on the same
  model serve too (:func:`kasper.trainer.eval_cache.on_model`): the anchor's seed
  exemplars are computed by the first tier's first window only;
- a **row**: what is measured (an answer's summed log-prob, or its mean token
  loss), its tokens, where its answer starts and the length it is cut at.

A row's value does not depend on which rows share its batch, up to float
rounding (a few units in the last place of a sum of log-probs): a cached
reference differs from one computed on the training batch by that much, which
moves no loss visibly (a test compares them on the shipped model).

The file keeps the rows of the latest plan that asked for any (an SFT plan asks for
none and leaves it): the rows that recur are the ones the next plan asks for again.

Error policy: as :mod:`kasper.trainer.eval_cache`: an unreadable or malformed file
is treated as empty (logged); the file is replaced atomically; an OS error writing
it is logged and training goes on.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from kasper.agents.runtime.blas import mx  # first: OpenBLAS must load before mlx.core
from .eval_cache import on_model, write_cache  # noqa: E402
from .eval_set import STORE_DIR  # noqa: E402
from .packed import Seq, mean_nll, measuring, pack, packed_logps, with_states, without_states  # noqa: E402
from .windows import checked_name  # noqa: E402


def row_key(measure: str, row: Seq, max_len: int) -> str:
    """Names a row's reference value: the measure, the tokens, the answer start, the cut."""
    tokens, offset = row
    text = json.dumps([measure, max_len, offset, list(tokens)], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class ReferenceCache:
    """One tier's reference values for one model; :meth:`save` writes the rows used since loading."""

    def __init__(self, adapters_dir: Path, tier: str, model: str) -> None:
        self.path = Path(adapters_dir) / STORE_DIR / f"{checked_name(tier, 'tier')}-reference.json"
        self.model = model
        self.values: dict[str, float] = {}
        self.used: set[str] = set()
        self.hits = self.misses = 0
        for data in on_model(self.path, "*-reference.json", model, "reference cache"):
            values = data.get("values")
            for k, v in (values.items() if isinstance(values, dict) else ()):
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self.values.setdefault(k, float(v))

    def lookup(self, keys: Iterable[str]) -> list[float | None]:
        """Each key's value, or None where it is missing (counted as a hit or a miss)."""
        out = []
        for key in keys:
            self.used.add(key)
            value = self.values.get(key)
            self.hits += value is not None
            self.misses += value is None
            out.append(value)
        return out

    def store(self, keys: Iterable[str], values: Iterable[float]) -> None:
        for key, value in zip(keys, values):
            if math.isfinite(value):  # a NaN reference is recomputed, never reused
                self.values[key] = float(value)
                self.used.add(key)

    def save(self) -> None:
        """Write the values of the rows used since loading (the rest are dropped). A plan that
        used none (an SFT run) leaves the file as it is: the next KTO window wants its rows."""
        if not self.used:
            return
        write_cache(self.path, {"model": self.model,
                                "values": {k: v for k, v in self.values.items() if k in self.used}},
                    "reference cache")


def answer_logps(model: Any, rows: tuple) -> Any:
    """Each packed row's answer log-prob, summed (evaluated)."""
    with measuring(model):
        logps, _ = packed_logps(model, *rows)
        mx.eval(logps)
    return logps


def answer_nlls(model: Any, rows: tuple) -> Any:
    """Each packed row's mean token loss over its answer (evaluated)."""
    with measuring(model):
        nll = mean_nll(model, *rows)
        mx.eval(nll)
    return nll


MEASURES: Mapping[str, Callable[[Any, tuple], Any]] = {"logp": answer_logps, "nll": answer_nlls}


def referenced(model: Any, seqs: list[Seq], max_len: int, measure: str,
               refs: ReferenceCache | None = None) -> tuple[tuple, Any]:
    """A pack of ``seqs`` (7 arrays: :func:`~kasper.trainer.packed.with_states`) and each
    row's reference value by ``measure`` (``logp`` or ``nll``, :data:`MEASURES`).

    With ``refs``, the values it holds (from earlier plans, or earlier batches of this one:
    a liked thumb is often a pair's chosen row) are taken from it and only the missing rows
    are computed, in a pack of their own; when every row is missing, on the very pack
    returned, as without ``refs``. A pack computed here carries the frozen blocks' states,
    which its reference pass makes anyway; one taken from ``refs`` carries none (they are
    made at its first step)."""
    rows, compute = pack(seqs, max_len), MEASURES[measure]
    if refs is None:
        rows = with_states(model, rows)
        return rows, compute(model, rows)
    keys = [row_key(measure, s, max_len) for s in seqs]
    known = refs.lookup(keys)
    missing = [i for i, value in enumerate(known) if value is None]
    if len(missing) == len(seqs):
        rows = with_states(model, rows)
        values = compute(model, rows)
        refs.store(keys, values.tolist())
        return rows, values
    if missing:
        got = compute(model, pack([seqs[i] for i in missing], max_len)).tolist()
        refs.store([keys[i] for i in missing], got)
        for i, value in zip(missing, got):
            known[i] = value
    return without_states(rows), mx.array(known, mx.float32)
