"""The ``train`` role of ``kasper worker``: the window loop, the training loop and the live
rollback watch as one Faust task.

Thin wiring only; the logic is in :mod:`kasper.trainer.window_loop` and
:mod:`kasper.trainer.train_loop`, which consume with their own aiokafka
clients because their offsets may be committed only once a window (or a model
version) is durable and announced, which Faust streams' automatic acks do not
allow.

Run one trainer per cluster: windows are per tier over all partitions, so a
second trainer in the group would split every tier's records between two
windows (it would not lose or duplicate any, but windows would be half-size).

Shutdown: when the worker stops, Faust cancels the task; both loops get a stop
event, a training run saves a checkpoint at its next report and stops, and the
task returns once the clients are closed. Error policy: if any loop fails
(broker gone, state store unusable, a bug), the others are stopped and the
worker crashes with that error; after a restart the loops recover from the
state store and the committed offsets.

SIGUSR1 asks the trainer to close every open window now (reason ``manual``; see
:mod:`kasper.trainer.window_loop`): ``kill -USR1 <worker pid>``. ``kasper up`` sends it
once every prompt has its outcome and the users' feedback is sent, instead of waiting
for the windows' idle time. A worker without the ``train`` role keeps Python's
default for that signal, which ends the process.

The live rollback watch (:func:`kasper.trainer.rollback.watch`) compares every
tier's newly promoted version with its incumbent on live approvals and thumbs
(a canary side by side with its incumbent), every ``rollback_watch_s`` seconds,
rolls back one that does worse and fully promotes a canary that does not; it
fails and stops like the two loops.

Options (``build_app(roles, trainer_config=TrainerConfig(...))``):
``trainer_config`` replaces the defaults of :meth:`TrainerConfig.from_settings`;
``rollback_watch_s`` the watch's interval (None: no watch; default:
``KASPER_TRAINER_ROLLBACK_WATCH_S``, where 0 turns it off).
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from kasper.agents.runtime.blas import mx  # noqa: F401  (OpenBLAS before anything imports mlx.core)
from kasper.streams.logs import get_logger

from .adapters import Registry
from .config import TIERS, TrainerConfig
from .live import KEEP, ROLLBACK
from .rollback import watch
from .train_loop import run_training
from .window_loop import run_windows

log = get_logger(__name__)


def _watched(seen: dict[str, Any]) -> None:
    if seen["action"] in (ROLLBACK, KEEP):  # a wait is the normal state: not logged every round
        log.info("live watch decided", tier=seen["tier"], version=seen["serving"],
                 incumbent=seen.get("incumbent"), action=seen["action"], reason=seen["reason"][:500])


def register(app: Any, ctx: Any) -> None:
    """Declare the trainer task on ``app`` (``ctx`` is a ``WorkerContext``)."""
    config = ctx.options.get("trainer_config") or TrainerConfig.from_settings(ctx.settings)
    watch_s = ctx.options.get("rollback_watch_s", ctx.settings.trainer.rollback_watch_s or None)

    @app.task
    async def trainer() -> None:
        stop, close_now = asyncio.Event(), asyncio.Event()
        listening = _on_signal(signal.SIGUSR1, close_now.set)
        tasks = [asyncio.ensure_future(run_windows(ctx.settings, config, stop, ctx.codec, close_now)),
                 asyncio.ensure_future(run_training(ctx.settings, config, stop, codec=ctx.codec))]
        if watch_s is not None:
            tasks.append(asyncio.ensure_future(watch(
                ctx.settings, TIERS, once=False, interval_s=watch_s, report=_watched, stop=stop,
                registry=Registry(config.adapters_dir))))
        try:
            await asyncio.shield(asyncio.gather(*tasks))
        except Exception as exc:  # not CancelledError: a loop failed (broker, state store, bug)
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            log.error("trainer failed; stopping the worker", error=repr(exc))
            await app.crash(exc)  # a restart recovers: nothing is committed past what is durable
        finally:
            # Cancelled (worker stopping) or failed: stop both loops cleanly.
            log.info("trainer stopping")
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            if listening:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGUSR1)


def _on_signal(signum: int, callback: Any) -> bool:
    """Call ``callback`` on ``signum`` in the running loop; False (logged) where that is not
    possible (a loop outside the main thread, a platform without the signal)."""
    try:
        asyncio.get_running_loop().add_signal_handler(signum, callback)
    except (NotImplementedError, RuntimeError, ValueError) as exc:
        log.warning("closing windows on request is off: no signal handler here", error=str(exc))
        return False
    log.info("SIGUSR1 closes every open window", signal=int(signum))
    return True
