"""The preference objectives' fixed batches and the reference values they carry.

Batches are fixed groups of similar length (mlx-lm's scheme: sorted by length, cut
into ``batch_size`` groups, the last partial group left out); each epoch visits them
in an order seeded by ``seed + epoch`` (:func:`_cycle`), so a resumed run sees the
same batches, and the KTO rotation and every reference value are computed once.

A DPO, KTO or anchor batch is built :class:`Pending`: its rows, what the reference
measures on them and the arrays that follow. :func:`resolve` runs the reference
model over it (:func:`~kasper.trainer.reference_cache.referenced`). The reference
is the model as training starts, so a batch must be resolved before the first
step; the plan resolves only the batches its steps will take (the seeded order
says which), since a short run over many anchor texts takes a few of their
batches (:func:`taken`). A :class:`Mixture` asked for a batch still pending
raises: it would have no reference.

Error policy: ``RuntimeError`` for a pending batch taken (a plan that did not
foresee a step); ``TrainingInterrupted`` from ``should_stop`` between two
reference passes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kasper.agents.runtime.blas import mx  # first: OpenBLAS must load before mlx.core

import numpy as np  # noqa: E402

from .errors import TrainingInterrupted  # noqa: E402
from .packed import Seq, has_states, pad, with_states  # noqa: E402
from .reference_cache import ReferenceCache, referenced  # noqa: E402


@dataclass(frozen=True)
class Pending:
    """A batch whose reference values are not computed yet: its rows, the measure
    (``logp`` or ``nll``) and the arrays that follow the values in its tuple."""

    seqs: list[Seq]
    measure: str
    tail: tuple = ()


def resolve(model: Any, batch: Pending, max_len: int, refs: ReferenceCache | None = None) -> tuple:
    """``(*pack, reference values, *tail)`` of ``batch``, with the model as it is now."""
    rows, ref = referenced(model, batch.seqs, max_len, batch.measure, refs)
    return (*rows, ref, *batch.tail)


def _groups(items: list, batch: int, length: Callable[[Any], int]) -> list[list]:
    order = sorted(range(len(items)), key=lambda i: length(items[i]))
    return [[items[i] for i in order[k:k + batch]] for k in range(0, len(order) - batch + 1, batch)]


def sft_groups(examples: list[Seq], batch: int, max_len: int) -> list[tuple]:
    return [pad(g, max_len) for g in _groups(examples, batch, lambda e: len(e[0]))]


def dpo_groups(pairs: list[tuple[Seq, Seq]], batch: int) -> list[Pending]:
    """Per batch of pairs: the chosen rows, then the rejected (a pair shares its prompt row)."""
    return [Pending([c for c, _ in group] + [r for _, r in group], "logp")
            for group in _groups(pairs, batch, lambda p: max(len(p[0][0]), len(p[1][0])))]


def anchor_groups(texts: list[Seq], batch: int, weight: float) -> list[Pending]:
    """Per batch: anchor rows, measured by their mean token loss, then the weight."""
    return [Pending(group, "nll", (mx.array(weight, mx.float32),))
            for group in _groups(texts, batch, lambda t: len(t[0]))]


def kto_groups(thumbs: list[tuple[Seq, bool]], batch: int, weights: tuple[float, float]) -> list[Pending]:
    """Per batch: the examples and their mismatched KL rows (TRL's +1 rotation: each
    example's prompt with the previous example's answer, so the two share a prompt row),
    then the liked mask and each example's weight."""
    out = []
    for group in _groups(thumbs, batch, lambda t: len(t[0][0])):
        seqs = [s for s, _ in group]
        answers = [tokens[offset:] for tokens, offset in seqs]
        rotated = answers[-1:] + answers[:-1]
        kl = [(tokens[:offset] + answer, offset) for (tokens, offset), answer in zip(seqs, rotated)]
        liked = [like for _, like in group]
        weight = [weights[0] if like else weights[1] for like in liked]
        out.append(Pending(seqs + kl, "logp", (mx.array(liked), mx.array(weight, mx.float32))))
    return out


def epoch_steps(groups: dict[str, list], objective: Sequence[str]) -> int:
    """The steps of one pass over a window: the largest objective's batches (the anchor's
    texts only ride along, so it is not among ``objective``)."""
    return max(len(groups[o]) for o in objective)


def taken(n: int, steps: int, seed: int) -> set[int]:
    """The group indices among ``n`` that steps ``0 .. steps - 1`` take (:func:`_cycle`)."""
    return set(itertools.islice(_cycle(n, 0, seed), steps)) if n else set()


def resolve_all(model: Any, groups: list, max_len: int, indices: set[int] | None = None,
                should_stop: Callable[[], bool] | None = None, refs: ReferenceCache | None = None) -> None:
    """Resolve, in place, the pending groups at ``indices`` (None: all of them)."""
    for i, group in enumerate(groups):
        if isinstance(group, Pending) and (indices is None or i in indices):
            if should_stop is not None and should_stop():
                raise TrainingInterrupted("stopped while computing reference log-probs, before the first step")
            groups[i] = resolve(model, group, max_len, refs)


@dataclass
class Mixture:
    """Every objective's fixed batches; ``len`` is what mlx-lm's validation counts (batches).

    ``model``, when given, fills in a pack's frozen-block states the first time its batch is
    taken (:func:`~kasper.trainer.packed.with_states`) and keeps them for the next epoch."""

    objective: tuple[str, ...]  # the parts each step takes a group of (the anchor included)
    groups: dict[str, list]
    batch_size: int = 1
    counts: dict[str, int] = field(default_factory=dict)
    model: Any = None

    def __len__(self) -> int:
        return min((len(g) for g in self.groups.values()), default=0) * self.batch_size

    def steps(self, start: int, seed: int) -> Iterator[tuple]:
        """Training batches forever from step ``start``: one group of each objective per step."""
        streams = [(name, _cycle(len(self.groups[name]), start, seed)) for name in self.objective]
        while True:
            yield tuple(a for name, stream in streams for a in self._group(name, next(stream)))

    def once(self) -> Iterator[tuple]:
        """Validation: every objective's groups in order, until the shortest runs out."""
        for i in range(min(len(self.groups[name]) for name in self.objective)):
            yield tuple(a for name in self.objective for a in self._group(name, i))

    def _group(self, name: str, i: int) -> tuple:
        group = self.groups[name][i]
        if isinstance(group, Pending):
            raise RuntimeError(f"{name} batch {i} was taken without reference values: "
                               "the plan did not foresee the step that takes it")
        if self.model is not None and name != "sft" and not has_states(group):
            group = self.groups[name][i] = (*with_states(self.model, group), *group[7:])
        return group


def _cycle(n: int, start: int, seed: int) -> Iterator[int]:
    """Group indices from step ``start``: each epoch a seeded permutation of ``range(n)``."""
    epoch, skip = divmod(start, n)
    while True:
        yield from np.random.RandomState(seed + epoch).permutation(n)[skip:].tolist()
        epoch, skip = epoch + 1, 0


def batches(start: int, seed: int) -> Callable:
    """An ``iterate_batches`` for ``mlx_lm`` ``train`` over a :class:`Mixture`."""
    def iterate(dataset: Mixture, batch_size: int, max_seq_length: int, loop: bool = False, **_kw):
        yield from dataset.steps(start, seed) if loop else dataset.once()
    return iterate
