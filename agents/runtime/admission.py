"""Which waiting rows take the free slots of a running batch: rows that share a prefix go together.

Why: each decode step attends, per distinct prefix in the batch (the system message
and a domain's few-shot turns), the rows of that prefix against its keys
(``prefix_attention.py``). On the CPU a matmul of a few rows costs nearly as much as
one of many, so a batch of 32 rows spread over 7 domains' prefixes pays for 7 skinny
matmuls per layer where 2 domains would pay for 2 (measured in docs/model-runtime.md,
"Admission by prefix"). With a backlog, the order rows are admitted in is free to
choose; serving systems call this cache-aware scheduling (SGLang's longest-prefix
policy).

The rule (:func:`pick`), for ``room`` free slots:

1. rows passed over ``max_skips`` times already, and rows drawn again (their caller
   waits for them alone), in queue order: no row waits forever;
2. rows whose prefix is already in the batch (or picked by this admission), in queue
   order;
3. then the prefix with the most waiting rows (ties: the one queued earliest), its
   rows in queue order, and again until the slots are full.

Every waiting row not picked while a row queued after it was is passed over once.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Protocol

# Admissions a row may be passed over before it goes first: a few steps' wait at most
# (an admission happens once an eighth of the slots are free).
MAX_SKIPS = 3


class Waiting(Protocol):
    """What :func:`pick` reads and writes on a waiting row."""

    prefix_key: Hashable
    skipped: int
    urgent: bool


def pick(waiting: Sequence[Waiting], room: int, running: set[Hashable], max_skips: int = MAX_SKIPS) -> list[int]:
    """Indexes into ``waiting`` of the rows to admit (at most ``room``), in queue order.

    ``running`` is the set of prefix keys of the batch's live rows; rows passed over
    get their ``skipped`` count raised.
    """
    if room <= 0 or not waiting:
        return []
    if room >= len(waiting):
        return list(range(len(waiting)))
    chosen: list[int] = []
    taken: set[int] = set()
    keys = set(running)

    def take(indexes: Sequence[int]) -> None:
        for i in indexes:
            if len(chosen) >= room:
                return
            if i not in taken:
                taken.add(i)
                chosen.append(i)
                keys.add(waiting[i].prefix_key)

    take([i for i, w in enumerate(waiting) if w.urgent or w.skipped >= max_skips])
    take([i for i, w in enumerate(waiting) if w.prefix_key in keys])
    while len(chosen) < room:
        counts: dict[Hashable, int] = {}
        for i, w in enumerate(waiting):
            if i not in taken:
                counts[w.prefix_key] = counts.get(w.prefix_key, 0) + 1
        # dicts keep insertion order, so max() breaks ties by the earliest queued row.
        best = max(counts, key=counts.__getitem__)
        take([i for i, w in enumerate(waiting) if i not in taken and w.prefix_key == best])
    chosen.sort()
    last = chosen[-1]
    for i, w in enumerate(waiting[:last]):
        if i not in taken:
            w.skipped += 1
    return chosen
