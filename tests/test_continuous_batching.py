"""Continuous batching on the real shipped model: rows admitted into a running batch.

An engine with a small cap on live slots gets more rows than slots, with different
token limits, so rows finish at different steps and waiting rows are admitted
mid-decode. Each must write what it writes alone (same seed: sampling noise is
keyed by the row's own step), with its guards, flags and token stream intact.
"""

from __future__ import annotations

import asyncio

import pytest

from kasper.agents.runtime.blas import mx  # noqa: F401  (OpenBLAS before mlx.core)
from kasper.agents.quality.prompts import build_messages
from kasper.agents.runtime.backend import GenRequest, Sampling
from kasper.agents.generate import Models, Pipeline
from kasper.agents.runtime.guards import GuardSpec
from kasper.agents.runtime.hot_swap import VersionSwitcher
from kasper.agents.runtime.mlx_backend import MLXBackend
from kasper.agents.runtime.mlx_engine import Cancelled, Engine, Row
from kasper.streams.settings import GenerateSettings, ModelSettings
from kasper.streams.synthetic_prompts import synthetic_prompt

model = pytest.mark.model


@pytest.fixture(scope="module")
def backend(shipped_model):
    backend = MLXBackend(ModelSettings(model=shipped_model), GenerateSettings(max_tokens=16))
    asyncio.run(backend.start())
    yield backend
    asyncio.run(backend.close())


def small(backend, slots: int = 2) -> Engine:
    """An engine on the backend's model with only ``slots`` live rows at a time."""
    base = backend._tiers["lite"].engine
    return Engine(base.model, base.tokenizer, base.top_k, max_slots=slots)


def messages(n: int, seed: int) -> list[list[dict]]:
    return [build_messages(synthetic_prompt(i, seed) | {"prompt_id": f"cb-{seed}-{i}"}) for i in range(n)]


def token_rows(engine: Engine, n: int, seed: int) -> list[list[int]]:
    template = engine.tokenizer.apply_chat_template
    return [list(template(m, add_generation_prompt=True)) for m in messages(n, seed)]


def alone(backend, row: Row):
    return small(backend, 1).generate([row])[0]


@model
def test_rows_admitted_mid_decode_write_what_they_write_alone(backend):
    engine = small(backend, 2)
    prompts = token_rows(engine, 5, seed=31)
    # Different limits: slots free at different steps, so rows 2-4 join a running batch;
    # greedy and sampled rows alternate.
    rows = [Row(t, limit, temperature=0.0 if i % 2 else 0.8, top_p=0.9, seed=100 + i)
            for i, (t, limit) in enumerate(zip(prompts, (5, 14, 9, 12, 7)))]
    together = engine.generate(rows)
    assert engine.last_stats.joined >= 3
    assert engine.last_stats.generated_tokens == sum(len(o.tokens) for o in together)
    for row, out in zip(rows, together):
        single = alone(backend, row)
        assert out.tokens == single.tokens
        assert out.text == engine.tokenizer.decode(single.tokens)
        assert out.prompt_tokens == len(row.tokens)
        assert out.finish_reason in ("stop", "length")
        assert len(out.tokens) <= row.max_tokens


@model
def test_admitted_rows_keep_guards_flags_bias_penalty_and_token_stream(backend):
    engine = small(backend, 2)
    prompts = token_rows(engine, 4, seed=37)
    plain = [alone(backend, Row(t, 12)) for t in prompts]
    # Row 2 copies from its first token (it joins mid-decode): stopped at its start.
    # Row 3 stops where it starts copying 3 tokens of its own plain text; row 4 may not
    # write its plain second token (a logit bias).
    copied = GuardSpec(copy_ngram=4, source=tuple(plain[2].tokens[:4]))
    cut = GuardSpec(copy_ngram=3, source=tuple(plain[3].tokens[6:9]))
    banned = ((plain[0].tokens[1], -100.0),)
    rows = [Row(prompts[0], 3), Row(prompts[1], 10, repetition_penalty=100.0),
            Row(prompts[2], 12, guard=copied), Row(prompts[3], 12, guard=cut),
            Row(prompts[0], 8, logit_bias=banned)]
    deltas: dict[int, list[tuple[str, bool]]] = {i: [] for i in range(len(rows))}
    outs = engine.generate(rows, lambda row, text, done: deltas[row].append((text, done)))
    assert engine.last_stats.joined >= 3
    assert (outs[2].finish_reason, outs[2].tokens, outs[2].stopped_at_start) == ("copy", plain[2].tokens[:4], True)
    assert (outs[3].finish_reason, outs[3].tokens, outs[3].stopped_at_start) == ("copy", plain[3].tokens[:6], False)
    assert len(set(outs[1].tokens)) == len(outs[1].tokens)
    assert outs[1].tokens == alone(backend, rows[1]).tokens
    assert outs[4].tokens[0] == plain[0].tokens[0] and outs[4].tokens[1] != plain[0].tokens[1]
    assert outs[4].tokens == alone(backend, rows[4]).tokens
    for i, out in enumerate(outs):
        assert [done for _, done in deltas[i]].count(True) == 1 and deltas[i][-1][1]
        # The stream holds every token written, including those a guard cut back.
        assert "".join(text for text, _ in deltas[i]).startswith(out.text)


@model
def test_a_row_stopped_at_its_start_is_drawn_again_inside_the_running_batch(backend):
    engine = small(backend, 2)
    prompts = token_rows(engine, 3, seed=43)
    sampled = dict(temperature=0.8, top_p=0.9)
    first = alone(backend, Row(prompts[0], 12, seed=7, **sampled))
    # Row 0 copies its own first draw from its first token: drawn again with seed 8,
    # and that draw is kept. Row 1 is greedy: its second draw stops the same way, so
    # the first is kept. Row 2 has no redraw seed: returned stopped, as before.
    guard0 = GuardSpec(copy_ngram=4, source=tuple(first.tokens[:4]))
    second = alone(backend, Row(prompts[0], 12, seed=8, guard=guard0, **sampled))
    assert not second.stopped_at_start and second.tokens[:4] != first.tokens[:4]
    greedy = alone(backend, Row(prompts[1], 12))
    guard1 = GuardSpec(copy_ngram=4, source=tuple(greedy.tokens[:4]))
    rows = [Row(prompts[0], 12, seed=7, guard=guard0, redraw_seed=8, **sampled),
            Row(prompts[1], 12, guard=guard1, redraw_seed=9),
            Row(prompts[1], 12, guard=guard1),
            Row(prompts[2], 12, redraw_seed=10)]
    deltas: dict[int, list[tuple[str, bool]]] = {i: [] for i in range(len(rows))}
    outs = engine.generate(rows, lambda row, text, done: deltas[row].append((text, done)))

    assert (outs[0].tokens, outs[0].draws, outs[0].seed, outs[0].stopped_at_start) == (second.tokens, 2, 8, False)
    assert (outs[1].tokens, outs[1].draws, outs[1].seed, outs[1].stopped_at_start) == (
        greedy.tokens[:4], 2, 0, True)
    assert (outs[2].tokens, outs[2].draws, outs[2].stopped_at_start) == (greedy.tokens[:4], 1, True)
    assert (outs[3].tokens, outs[3].draws) == (alone(backend, rows[3]).tokens, 1)
    # Both draws of rows 0 and 1 were decoded; the drain counted every token.
    assert engine.last_stats.generated_tokens == 4 + len(second.tokens) + 4 + 4 + 4 + len(outs[3].tokens)
    for i, out in enumerate(outs):
        # The stream shows the kept draw only, one done.
        assert [done for _, done in deltas[i]].count(True) == 1 and deltas[i][-1][1]
        assert "".join(text for text, _ in deltas[i]).startswith(out.text)
    assert "".join(text for text, _ in deltas[0]) == engine.tokenizer.decode(second.tokens)


def prefixed_rows(engine: Engine, system: str, n: int, seed: int) -> list[tuple[list[int], int]]:
    """Prompts under one system message: their tokens and the shared prefix's length
    (as MLXBackend names a row's prefix)."""
    template = engine.tokenizer.apply_chat_template
    head = [{"role": "system", "content": system}]
    shared = list(template(head))
    out = []
    for m in messages(n, seed):
        tokens = list(template(head + [x for x in m if x["role"] != "system"], add_generation_prompt=True))
        assert tokens[:len(shared)] == shared
        out.append((tokens, len(shared)))
    return out


@model
def test_rows_sharing_the_running_prefix_are_admitted_first_and_write_what_they_write_alone(backend):
    engine = small(backend, 2)
    a = prefixed_rows(engine, "You write short, warm insights. Speak to the reader as you.", 3, seed=53)
    b = prefixed_rows(engine, "You are a careful career coach who writes one concrete paragraph.", 3, seed=59)
    # Queued A, B, A, B, A, B with different limits, so slots free one at a time.
    queued = [a[0], b[0], a[1], b[1], a[2], b[2]]
    limits = (3, 9, 5, 7, 6, 4)
    rows = [Row(tokens, limit, prefix=size) for (tokens, size), limit in zip(queued, limits)]
    admitted: list[str] = []
    prefill = engine.prefill

    def recording(batch, stats, **kwargs):
        admitted.extend("A" if (r.tokens, r.prefix) in a else "B" for r in batch)
        return prefill(batch, stats, **kwargs)

    engine.prefill = recording
    outs = engine.generate(rows)
    # Both A rows first (ties go to the prefix queued first), the last A as soon as a
    # slot frees beside the running A, then the B rows.
    assert admitted == ["A", "A", "A", "B", "B", "B"]
    for row, out in zip(rows, outs):
        assert out.tokens == alone(backend, row).tokens


@model
def test_cancel_fails_running_and_queued_rows_and_later_rows_run(backend):
    engine = small(backend, 2)
    prompts = token_rows(engine, 4, seed=41)
    seen = []

    def on_delta(row, text, done):
        seen.append(row)
        if len(seen) == 3:
            engine.cancel()

    running, start = engine.submit([Row(prompts[0], 64), Row(prompts[1], 64)], on_delta)
    queued, again = engine.submit([Row(prompts[2], 64), Row(prompts[3], 64)])
    assert start and not again
    engine.drain()
    for future in (running, queued):
        with pytest.raises(Cancelled):
            future.result(timeout=0)
    assert len(seen) < 10  # stopped within a step or two of the cancel
    [after] = engine.generate([Row(prompts[2], 6)])
    assert after.tokens == alone(backend, Row(prompts[2], 6)).tokens


@model
def test_concurrent_backend_calls_share_the_running_batch(backend):
    sampling = Sampling(temperature=0.7, top_p=0.9, max_tokens=10)
    first = [GenRequest(m, "lite", sampling, seed=7 + i) for i, m in enumerate(messages(3, seed=43))]
    second = [GenRequest(m, "standard", sampling, seed=70 + i) for i, m in enumerate(messages(3, seed=47))]
    # Cancelled (queued) rows may not leak into later calls: nothing is queued here.

    async def both():
        return await asyncio.gather(backend.generate(first), backend.generate(second))

    got_first, got_second = asyncio.run(both())
    stats = backend._tiers["lite"].engine.last_stats
    assert stats.generated_tokens >= sum(r.completion_tokens for r in got_first + got_second)

    async def one_by_one():
        return [await backend.generate([r]) for r in first + second]

    singles = asyncio.run(one_by_one())
    assert [r.text for r in got_first + got_second] == [s[0].text for s in singles]
    assert [r.completion_tokens for r in got_first + got_second] == [s[0].completion_tokens for s in singles]


def test_the_agent_pipeline_overlaps_two_batches_but_acks_them_in_order():
    # Batch 2 starts while batch 1 still generates and finishes first; batch 1 is acked
    # first all the same, and the switcher's lock is held until both are done.
    async def run():
        switcher = VersionSwitcher(backend=None, dead_letter=None)
        acked, log = [], []
        release = asyncio.Event()
        pipeline = Pipeline(Models(switcher), lambda event: _ack(acked, event))
        acker = asyncio.create_task(pipeline.acker())

        async def first(previous):
            log.append("1 started")
            await release.wait()
            log.append("1 done")

        async def second(previous):
            log.append("2 started")
            await asyncio.wait([previous])
            log.append("2 sent after 1")

        await pipeline.start(["a", "b"], first)
        await pipeline.start(["c"], second)
        await asyncio.sleep(0.05)
        assert log == ["1 started", "2 started"] and not acked
        assert switcher._lock.locked()
        release.set()
        while len(acked) < 3:
            await asyncio.sleep(0.01)
        assert log == ["1 started", "2 started", "1 done", "2 sent after 1"]
        assert acked == ["a", "b", "c"] and not switcher._lock.locked()
        acker.cancel()

    asyncio.run(run())


async def _ack(acked: list, event) -> None:
    acked.append(event)
