"""BLAS threads that follow the machine (agents/runtime/cores.py, blas.py's thread choice).

The rule is tested on injected CPU-time readers (a machine's load cannot be staged
reliably in a test); the readers themselves on this machine's /proc/stat; the thread
switch on the real OpenBLAS; and the engine on the real shipped model, whose tokens
must not depend on the thread count.
"""

from __future__ import annotations

import asyncio

import pytest

from kasper.agents.runtime import blas
from kasper.agents.runtime import scheduler as scheduler_module
from kasper.agents.runtime.blas import mx  # noqa: F401  (OpenBLAS before mlx.core)
from kasper.agents.runtime import cores
from kasper.agents.runtime.cores import CoreWatch, History, machine_busy_seconds, own_seconds, threads_for


class Machine:
    """A fake clock and CPU-time counters: ``run(seconds, others=cores, own=cores)``."""

    def __init__(self) -> None:
        self.t = self.busy = self.own = 0.0
        self.applied: list[int] = []
        self.load = (0.0, 0.0)
        self.slept: list[float] = []

    def run(self, seconds: float, others: float, own: float = 1.0) -> None:
        self.t += seconds
        self.busy += seconds * (others + own)
        self.own += seconds * own
        self.load = (others, own)

    def sleep(self, seconds: float) -> None:
        """The watch waits: the machine goes on as it last ran."""
        self.slept.append(seconds)
        self.run(seconds, *self.load)

    def watch(self, cores: int = 2, interval: float = 0.5, peers=lambda: 0,
              history: History | None = None) -> CoreWatch:
        return CoreWatch(interval, cores, busy=lambda: self.busy, own=lambda: self.own,
                         clock=lambda: self.t, apply=self.applied.append, enabled=True, peers=peers,
                         current=lambda: self.applied[-1] if self.applied else None, history=history,
                         sleep=self.sleep)


def test_threads_are_the_cores_other_processes_leave_free():
    assert threads_for(0.0, 2) == 2
    assert threads_for(0.4, 2) == 2
    assert threads_for(0.7, 2) == 1
    assert threads_for(1.8, 2) == 1  # never below one
    assert threads_for(1.2, 8) == 7
    assert threads_for(0.0, 1) == 1


def test_an_idle_machine_gets_every_core_and_a_busy_one_gets_one_thread_back():
    m = Machine()
    watch = m.watch()
    assert watch.threads == watch.base
    m.run(0.6, others=0.05, own=1.0)
    assert watch.tick() == 2 and m.applied == [2]
    # Another process takes a core: even sharing with our two threads it shows.
    m.run(0.6, others=0.8, own=1.2)
    assert watch.tick() == 1 and m.applied == [2, 1]
    m.run(0.6, others=1.0, own=1.0)
    assert watch.tick() == 1 and m.applied == [2, 1]  # no change, no call
    m.run(0.6, others=0.0, own=1.0)
    assert watch.tick() == 2
    watch.close()
    assert m.applied[-1] == watch.base and watch.changes == 4


def test_the_watch_decides_at_most_once_per_interval():
    m = Machine()
    watch = m.watch(interval=0.5)
    m.run(0.2, others=0.0)
    assert watch.tick() == watch.base and m.applied == []  # too soon: nothing read
    m.run(0.4, others=0.0)
    assert watch.tick() == 2


def test_busy_mlx_threads_of_this_process_each_keep_a_core():
    """The judge's batch beside a drain: both MLX threads are this process's own CPU time,
    invisible in the machine's figures, so the watch is told of them."""
    m = Machine()
    peers = [0]
    drain = m.watch(peers=lambda: peers[0])
    m.run(0.6, others=0.0, own=1.0)
    assert drain.tick() == 2 and m.applied == [2]
    peers[0] = 1  # the judge starts a batch: decided at once, not at the next interval
    m.run(0.1, others=0.0, own=2.0)
    assert drain.tick() == 1 and m.applied == [2, 1]
    m.run(0.1, others=0.0, own=2.0)
    assert drain.tick() == 1 and m.applied == [2, 1]  # nothing changed, no call
    peers[0] = 0
    m.run(0.1, others=0.0, own=1.0)
    assert drain.tick() == 2 and m.applied == [2, 1, 2]
    # With another process on a core as well, one thread whatever the peers.
    m.run(0.6, others=1.0, own=1.0)
    assert drain.tick() == 1


def test_a_decision_puts_its_count_back_after_another_watch_set_the_process_count():
    m = Machine()
    peers = {"drain": 0, "judge": 0}
    drain = m.watch(peers=lambda: peers["drain"])
    judge = m.watch(peers=lambda: peers["judge"])
    m.run(0.6, others=0.0, own=1.0)
    assert drain.tick() == 2
    peers["drain"] = peers["judge"] = 1  # both serving
    assert judge.tick() == 1 and m.applied == [2, 1]
    assert drain.tick() == 1 and m.applied == [2, 1]  # the drain agrees: nothing to apply
    judge.close()  # the judge's batch ends: back to the base count
    peers["drain"] = 0
    assert drain.tick() == 2 and m.applied == [2, 1, 2]
    # The judge alone on an idle machine takes both cores too, and hands back one at its end;
    # the drain, whose own book still says 2, puts 2 back at its next decision.
    peers["judge"] = 0
    m.run(0.6, others=0.0, own=1.0)
    assert judge.tick() == 2 and m.applied == [2, 1, 2]  # already in force: no call
    judge.close()
    assert m.applied == [2, 1, 2, 1]
    m.run(0.6, others=0.0, own=1.0)
    assert drain.tick() == 2 and m.applied == [2, 1, 2, 1, 2]


def test_a_watch_with_the_machines_history_decides_at_its_start():
    # The drain's first work is its largest prefill: it must not wait an interval at the base count.
    m, history = Machine(), History()
    first = m.watch(history=history)
    assert first.threads == first.base and m.applied == []  # nothing known yet: as before
    m.run(0.6, others=0.0, own=1.0)
    assert first.tick() == 2
    first.close()
    assert m.applied == [2, 1]
    # Between drains another process takes a core: the next drain starts at one thread...
    m.run(3.0, others=1.0, own=0.0)
    busy = m.watch(history=history)
    assert busy.threads == 1 and busy.others == pytest.approx(1.0) and m.applied == [2, 1]
    busy.close()
    # ... and once the machine is idle again, at two, before its first tick.
    m.run(2.0, others=0.0, own=0.1)
    idle = m.watch(history=history)
    assert idle.threads == 2 and m.applied == [2, 1, 2]
    # A busy MLX thread of this process beside it keeps a core from the start too.
    idle.close()
    m.run(1.0, others=0.0, own=1.0)
    beside_judge = m.watch(history=history, peers=lambda: 1)
    assert beside_judge.threads == 1


def test_after_a_long_gap_a_fresh_window_decides_not_the_gaps_average():
    """A process busy for most of a gap that has just stopped: its average says one thread,
    the machine now leaves two (a judge's batch after a neighbour's burst of work)."""
    m, history = Machine(), History()
    first = m.watch(history=history)
    m.run(0.6, others=0.0, own=1.0)
    assert first.tick() == 2
    first.close()
    m.run(3.0, others=1.0, own=0.0)
    m.run(0.5, others=0.0, own=0.0)  # 0.86 cores on average over the gap, none now
    watch = m.watch(history=history)
    assert m.slept == [0.1] and watch.others == pytest.approx(0.0) and watch.threads == 2
    assert history.last == watch._last  # the next watch starts from the fresh reading
    # The same for a watch that lives across batches (the judge's): its tick after the gap.
    m.run(0.6, others=0.0, own=1.0)
    assert watch.tick() == 2 and m.slept == [0.1]  # an ordinary interval: no window
    m.run(4.0, others=1.0, own=0.0)
    m.run(0.3, others=0.0, own=0.0)
    assert watch.tick() == 2 and m.slept == [0.1, 0.1]
    # And a neighbour busy now is seen now, whatever the gap's average.
    m.run(3.0, others=0.0, own=0.0)
    m.run(0.2, others=1.0, own=0.0)
    assert watch.tick() == 1 and watch.others == pytest.approx(1.0)


def test_a_history_read_too_recently_gives_its_last_figure_or_nothing():
    m, history = Machine(), History()
    m.watch(history=history)
    m.run(0.1, others=1.0, own=0.0)
    # Too close to the first reading to measure, and nothing measured before: as without one.
    second = m.watch(history=history)
    assert second.others is None and second.threads == second.base
    m.run(0.5, others=1.0, own=0.0)  # 0.6 s since the first reading, which was kept
    third = m.watch(history=history)
    assert third.others == pytest.approx(1.0) and third.threads == 1
    m.run(0.1, others=0.0, own=0.0)
    # Read 0.1 s later: the last figure stands (one busy core), not a tenth of a second's.
    fourth = m.watch(history=history)
    assert fourth.others == pytest.approx(1.0) and fourth.threads == 1
    # A watch's own decisions land in the history for the next one.
    m.run(0.6, others=0.0, own=1.0)
    assert fourth.tick() == 2
    assert history.others == pytest.approx(0.0)


def test_a_watch_that_cannot_read_the_machine_leaves_the_count_alone():
    def unreadable() -> float:
        raise OSError("no /proc here")

    applied: list[int] = []
    watch = CoreWatch(0.0, 2, busy=unreadable, apply=applied.append, enabled=True)
    assert not watch.enabled
    assert watch.tick() == watch.base
    watch.close()
    assert applied == []


def test_a_watch_is_off_on_one_core_or_when_the_user_fixed_the_count():
    m = Machine()
    assert not CoreWatch(0.5, 1, busy=lambda: m.busy, own=lambda: m.own, enabled=True).enabled
    assert not CoreWatch(0.5, 2, busy=lambda: m.busy, own=lambda: m.own, enabled=False).enabled


def test_this_machines_cpu_time_readers_count_up(tmp_path):
    before_busy, before_own = machine_busy_seconds(), own_seconds()
    sum(i * i for i in range(2_000_000))
    assert own_seconds() > before_own
    assert machine_busy_seconds() >= before_busy
    bad = tmp_path / "stat"
    bad.write_text("intr 1 2 3\n")
    with pytest.raises(ValueError, match="not the 'cpu' total"):
        machine_busy_seconds(str(bad))


@pytest.mark.parametrize("environ,threads,auto", [
    ({}, "1", True),                                          # ours to adapt, from one thread
    ({"OPENBLAS_NUM_THREADS": "2"}, "2", False),              # the user's count stands
    ({"KASPER_BLAS_THREADS": "3"}, "3", False),
    ({"KASPER_BLAS_THREADS": "auto"}, "1", True),
    # A child of an adapting process inherits both and adapts too.
    ({"OPENBLAS_NUM_THREADS": "1", "KASPER_BLAS_THREADS": "auto"}, "1", True),
])
def test_the_thread_setting_is_filled_in_from_the_environment(environ, threads, auto):
    env = dict(environ)
    blas._choose_threads(env)
    assert env["OPENBLAS_NUM_THREADS"] == threads
    assert (env.get("KASPER_BLAS_THREADS") == "auto") is auto


@pytest.mark.parametrize("value", ["0", "00", "many", "-2"])
def test_a_bad_thread_setting_is_named(value):
    with pytest.raises(ValueError, match="KASPER_BLAS_THREADS must be 'auto' or a positive number"):
        blas._choose_threads({"KASPER_BLAS_THREADS": value})


@pytest.mark.skipif(blas.blas_info().name != "openblas", reason="OpenBLAS is not loaded on this platform")
def test_the_openblas_thread_count_changes_at_run_time_and_results_do_not():
    a = mx.random.normal((32, 576), key=mx.random.key(1))
    w = mx.random.normal((1536, 576), key=mx.random.key(2))
    start = cores.get_threads()
    try:
        cores.set_threads(1)
        one = a @ w.T
        mx.eval(one)
        cores.set_threads(2)
        assert cores.get_threads() == 2
        two = a @ w.T
        mx.eval(two)
        assert mx.array_equal(one, two).item()
    finally:
        cores.set_threads(start)
    assert cores.get_threads() == start


@pytest.fixture(scope="module")
def engine(shipped_model):
    from kasper.agents.runtime.mlx_backend import MLXBackend
    from kasper.streams.settings import GenerateSettings, ModelSettings

    backend = MLXBackend(ModelSettings(model=shipped_model), GenerateSettings(max_tokens=24))
    asyncio.run(backend.start())
    yield backend._tiers["lite"].engine
    asyncio.run(backend.close())


@pytest.mark.model
@pytest.mark.skipif(blas.blas_info().name != "openblas", reason="OpenBLAS is not loaded on this platform")
def test_the_engine_writes_the_same_tokens_whatever_the_machine_leaves_it(engine, monkeypatch):
    from kasper.agents.quality.prompts import build_messages
    from kasper.agents.runtime.mlx_engine import Row
    from kasper.streams.synthetic_prompts import synthetic_prompt

    rows = [Row(list(engine.tokenizer.apply_chat_template(
                build_messages(synthetic_prompt(i, 5)), add_generation_prompt=True)), 24, seed=i)
            for i in range(4)]
    outputs, stats = {}, {}
    for load in (1.5, 0.0):  # a busy machine (one thread), then an idle one (two)
        m = Machine()

        def busy(m=m, load=load) -> float:
            m.run(0.1, others=load)  # every read sees a fresh tenth of a second at this load
            return m.busy

        def watch(m=m, busy=busy, peers=lambda: 0, history=None) -> CoreWatch:
            assert history is cores.MACHINE  # the engine's watches share the machine's readings
            return CoreWatch(0.0, 2, busy=busy, own=lambda: m.own, clock=lambda: m.t, enabled=True, peers=peers,
                             history=History())

        monkeypatch.setattr(scheduler_module, "CoreWatch", watch)
        after_prefill: list[int | None] = []
        prefill = engine.prefill

        def recorded(*args, prefill=prefill, after_prefill=after_prefill, **kwargs):
            out = prefill(*args, **kwargs)
            after_prefill.append(cores.get_threads())
            return out

        monkeypatch.setattr(engine, "prefill", recorded)
        outputs[load] = [o.tokens for o in engine.generate(rows)]
        monkeypatch.undo()
        # The prefill asks the watch between its passes: it need not wait for the first step.
        assert after_prefill[0] == (1 if load else 2), after_prefill
        stats[load] = engine.scheduler.last_stats
        assert cores.get_threads() == cores.base_threads()  # put back when the drain ended
    assert stats[1.5].threads == 1 and stats[0.0].threads == 2
    assert stats[0.0].thread_changes == 2  # up at the first step, back down at the end
    assert outputs[0.0] == outputs[1.5]
    assert all(len(t) > 0 for t in outputs[0.0])


@pytest.mark.model
@pytest.mark.skipif(blas.blas_info().name != "openblas", reason="OpenBLAS is not loaded on this platform")
@pytest.mark.parametrize("load, threads", [(0.0, 2), (1.5, 1)])
def test_a_training_run_takes_the_cores_the_machine_leaves_and_gives_them_back(
        shipped_model, tmp_path, monkeypatch, load, threads):
    """KTO: the reference passes and the steps run with the free cores' threads; after the run
    (and after a run stopped in its reference passes) the count is the base count again."""
    import dataclasses

    from kasper.trainer import lora
    from kasper.trainer.errors import TrainingInterrupted
    from tests.test_preference import TINY, write_preference_data

    m = Machine()

    def busy() -> float:
        m.run(0.1, others=load)
        return m.busy

    class Watch(CoreWatch):
        def __init__(self, **_kw) -> None:
            super().__init__(0.0, 2, busy=busy, own=lambda: m.own, clock=lambda: m.t, enabled=True)

    monkeypatch.setattr(lora, "CoreWatch", Watch)
    data = write_preference_data(tmp_path / "data", train=8, held_out=0)
    params = dataclasses.replace(TINY, objective="kto", iters=2, steps_per_report=1)
    seen: list[int | None] = []
    result = lora.train_adapter(shipped_model, data, tmp_path / "work", params,
                                progress=lambda step, info: seen.append(cores.get_threads()))
    assert result.objective == "kto" and result.iterations == 2
    assert seen == [threads, threads]
    assert cores.get_threads() == cores.base_threads()
    asked: list[int | None] = []

    def stop() -> bool:  # asked between reference batches: stop at the second
        asked.append(cores.get_threads())
        return len(asked) > 1

    with pytest.raises(TrainingInterrupted, match="reference log-probs"):
        lora.train_adapter(shipped_model, data, tmp_path / "work2", params, should_stop=stop)
    assert asked[0] == threads and cores.get_threads() == cores.base_threads()
