"""Serving first: the gate between a worker's serving work and its training.

The gate's own tests use real threads and the real clock (waits of a fraction of
a second); the model tests put the real engine's decoding and a real LoRA run on
the shipped model side by side, as a worker with every role runs them.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from kasper.agents.runtime.blas import mx  # noqa: F401  (OpenBLAS before mlx.core)
from kasper.agents.quality.prompts import build_messages
from kasper.agents.runtime import model_store
from kasper.agents.runtime.mlx_engine import Engine, Row
from kasper.agents.runtime.priority import GATE, Gate
from kasper.streams.synthetic_prompts import synthetic_prompt
from kasper.trainer.lora import train_adapter

from tests.test_trainer import TINY, make_window

SETTLE = 0.3


def hold(gate: Gate, seconds: float, started: threading.Event | None = None) -> threading.Thread:
    """A thread that serves for ``seconds``."""
    def run() -> None:
        with gate.serving():
            if started is not None:
                started.set()
            time.sleep(seconds)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_quiet_gate_lets_background_work_through_at_once():
    gate = Gate(settle_s=SETTLE)
    assert not gate.busy
    assert gate.wait_quiet(10.0) < 0.05


def test_background_work_waits_for_serving_to_end_and_then_settle():
    gate = Gate(settle_s=SETTLE)
    started = threading.Event()
    thread = hold(gate, 0.6, started)
    started.wait()
    assert gate.busy
    t0 = time.monotonic()
    waited = gate.wait_quiet(10.0)
    ended = time.monotonic()
    thread.join()
    assert not gate.busy
    # It waited out the serving (about 0.6 s) and then the settle time, not the 10 s limit.
    assert 0.6 + SETTLE - 0.05 <= waited <= 3.0, waited
    assert abs((ended - t0) - waited) < 0.05


def test_a_gap_shorter_than_the_settle_time_is_not_quiet():
    gate = Gate(settle_s=SETTLE)
    first = hold(gate, 0.3)
    time.sleep(0.05)
    done = []
    waiter = threading.Thread(target=lambda: done.append(gate.wait_quiet(10.0)))
    waiter.start()
    first.join()
    time.sleep(SETTLE / 3)  # a stage handing a batch to the next
    second = hold(gate, 0.3)
    second.join()
    waiter.join()
    # Through both bursts: it did not start in the gap between them.
    assert done[0] >= 0.25 + SETTLE / 3 + 0.3 + SETTLE - 0.1, done


def test_nested_serving_counts_until_the_outer_block_ends():
    gate = Gate(settle_s=SETTLE)
    with gate.serving():
        with gate.serving():
            pass
        assert gate.busy
    assert not gate.busy


def test_the_wait_is_bounded_under_constant_load():
    gate = Gate(settle_s=SETTLE)
    started = threading.Event()
    thread = hold(gate, 3.0, started)
    started.wait()
    waited = gate.wait_quiet(0.7)
    assert 0.7 <= waited < 1.5, waited
    assert gate.busy  # it gave up waiting; serving goes on
    thread.join()


def test_a_stop_ends_the_wait():
    gate = Gate(settle_s=SETTLE)
    started, stop = threading.Event(), threading.Event()
    thread = hold(gate, 3.0, started)
    started.wait()
    threading.Timer(0.4, stop.set).start()
    waited = gate.wait_quiet(30.0, should_stop=stop.is_set)
    assert 0.35 <= waited < 1.5, waited
    thread.join()


def test_an_exception_in_serving_work_still_releases_the_gate():
    gate = Gate(settle_s=SETTLE)
    with pytest.raises(RuntimeError):
        with gate.serving():
            raise RuntimeError("a failed decode")
    assert not gate.busy


# --- the real engine and a real LoRA run ----------------------------------------------


@pytest.fixture(scope="module")
def engine(shipped_model):
    model, tokenizer = model_store.load(shipped_model)
    return Engine(model, tokenizer, max_slots=4)


def rows(engine, n: int, max_tokens: int):
    template = engine.tokenizer.apply_chat_template
    return [Row(list(template(build_messages(synthetic_prompt(i, 5)), add_generation_prompt=True)),
                max_tokens=max_tokens, seed=i) for i in range(n)]


@pytest.mark.model
def test_the_engine_holds_the_gate_while_it_decodes(engine):
    seen = []
    thread = threading.Thread(target=lambda: seen.append(engine.generate(rows(engine, 3, 24))))
    thread.start()
    deadline = time.monotonic() + 60
    while not GATE.busy and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    busy_while_decoding = GATE.busy
    thread.join()
    assert busy_while_decoding, "the gate never showed the drain"
    assert len(seen[0]) == 3 and all(out.tokens for out in seen[0])
    assert not GATE.busy


@pytest.mark.model
def test_the_trainers_own_generation_does_not_hold_the_gate(engine):
    # The golden answers of an evaluation (trainer/evaluate.py) are not serving.
    quiet = Engine(engine.model, engine.tokenizer, max_slots=4, serving=False)
    seen, busy = [], []
    thread = threading.Thread(target=lambda: seen.append(quiet.generate(rows(quiet, 3, 24))))
    thread.start()
    while thread.is_alive():
        busy.append(GATE.busy)
        time.sleep(0.005)
    thread.join()
    assert len(seen[0]) == 3 and all(out.tokens for out in seen[0])
    assert len(busy) > 10 and not any(busy)


@pytest.mark.model
def test_a_training_run_waits_for_decoding_to_finish(engine, shipped_model, tmp_path):
    window = make_window(tmp_path / "windows", 8, seed=3)
    decoded_at: list[float] = []
    first_step_at: list[float] = []

    def serve() -> None:
        engine.generate(rows(engine, 4, 128))
        decoded_at.append(time.monotonic())

    thread = threading.Thread(target=serve)
    thread.start()
    deadline = time.monotonic() + 60
    while not GATE.busy and time.monotonic() < deadline:
        time.sleep(0.005)
    assert GATE.busy
    waits: list[float] = []
    result = train_adapter(
        shipped_model, window, tmp_path / "work", dataclasses.replace(TINY, iters=2, steps_per_report=1),
        pause=lambda: waits.append(GATE.wait_quiet(120.0)),
        progress=lambda step, info: first_step_at.append(time.monotonic()))
    thread.join()
    assert result.iterations == 2 and len(waits) == 3  # asked before the plan and each step
    # The first step was reported only after the decoding had ended and settled.
    assert first_step_at[0] > decoded_at[0] + GATE.settle_s * 0.9, (first_step_at, decoded_at)
    assert waits[0] > 0.5 and max(waits[1:]) < 0.05, waits  # then the gate stayed quiet
