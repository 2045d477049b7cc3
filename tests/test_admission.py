"""Admission by prefix (agents/runtime/admission.py): who takes the free slots, and that nobody starves.

Plain rows stand in for the engine's waiting rows (``pick`` reads only their prefix
key, skip count and urgency); the engine itself, with the rule on, is checked on the
real model in tests/test_continuous_batching.py.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from kasper.agents.runtime.admission import MAX_SKIPS, pick


@dataclass
class W:
    prefix_key: str | None
    skipped: int = 0
    urgent: bool = False


def queue(keys: str) -> list[W]:
    return [W(k) for k in keys]


def test_every_row_is_taken_in_queue_order_when_all_fit():
    waiting = queue("ABCA")
    assert pick(waiting, 4, {"B"}) == [0, 1, 2, 3]
    assert pick(waiting, 9, set()) == [0, 1, 2, 3]
    assert all(w.skipped == 0 for w in waiting)


def test_nothing_is_taken_without_room_or_rows():
    assert pick(queue("AB"), 0, set()) == []
    assert pick([], 3, set()) == []


def test_rows_sharing_a_prefix_with_the_batch_go_first_and_the_rows_passed_over_are_counted():
    waiting = queue("BACAA")
    assert pick(waiting, 2, {"A"}) == [1, 3]
    # B was passed over (a row behind it went in); the A behind the last one taken was not.
    assert [w.skipped for w in waiting] == [1, 0, 1, 0, 0]


def test_with_nothing_running_the_prefix_with_most_waiting_rows_goes_first():
    waiting = queue("BACAAB")
    assert pick(waiting, 3, set()) == [1, 3, 4]
    # A fills the room's rest too when it has more rows than the room.
    assert pick(queue("CAAAA"), 2, set()) == [1, 2]


def test_ties_go_to_the_prefix_queued_earliest_and_groups_fill_the_room_in_turn():
    assert pick(queue("ABAB"), 2, set()) == [0, 2]
    waiting = queue("ABBCA")
    chosen = pick(waiting, 3, set())
    # A and B tie at two rows; A is queued first, then B fills the last slot.
    assert chosen == [0, 1, 4]


def test_a_row_passed_over_max_skips_times_goes_first_even_against_the_batch_prefix():
    waiting = queue("BAAA")
    waiting[0].skipped = MAX_SKIPS
    assert pick(waiting, 1, {"A"}) == [0]


def test_a_row_drawn_again_goes_first():
    waiting = queue("AAB")
    waiting[2].urgent = True
    assert pick(waiting, 1, {"A"}) == [2]
    assert waiting[0].skipped == 1 and waiting[1].skipped == 1


def test_rows_without_a_named_prefix_form_one_group():
    waiting = [W(None), W("A"), W(None), W(None)]
    assert pick(waiting, 2, {None}) == [0, 2]


def _simulate(affine: bool, seed: int, rows: int = 192, slots: int = 32, domains: str = "ABCDEFG"):
    """A job like the generate stage's: rows of mixed domains queued at once, each running
    a random number of steps; admissions when an eighth of the slots are free. Returns the
    mean number of distinct prefixes per step, and each row's admissions passed over."""
    rng = random.Random(seed)
    waiting = [W(rng.choice(domains)) for _ in range(rows)]
    everyone = list(waiting)
    running: list[tuple[W, int]] = []
    groups_per_step = []
    while waiting or running:
        free = slots - len(running)
        if waiting and (not running or free >= min(len(waiting), slots // 8)):
            if affine:
                chosen = pick(waiting, free, {w.prefix_key for w, _ in running})
            else:
                chosen = list(range(min(free, len(waiting))))
            for i in chosen:
                running.append((waiting[i], rng.randint(20, 160)))
            taken = set(chosen)
            waiting = [w for i, w in enumerate(waiting) if i not in taken]
        groups_per_step.append(len({w.prefix_key for w, _ in running}))
        running = [(w, left - 1) for w, left in running if left > 1]
    return sum(groups_per_step) / len(groups_per_step), [w.skipped for w in everyone]


def test_in_a_mixed_backlog_the_batch_spans_fewer_prefixes_and_no_row_is_passed_over_unboundedly():
    for seed in range(5):
        fifo, _ = _simulate(False, seed)
        affine, skipped = _simulate(True, seed)
        assert affine < 0.85 * fifo, (seed, affine, fifo)
        # A row at the bound goes first at the next admission: the bound holds unless more
        # rows reach it at once than there are free slots.
        assert max(skipped) <= MAX_SKIPS + 1, (seed, max(skipped))
