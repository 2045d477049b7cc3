"""A Faust worker whose shutdown is bounded.

Faust stops its services in order and waits for each. When the broker is gone,
the aiokafka consumer thread dies in ``stop()`` (a CancelledError out of the
fetcher's retry backoff) and the worker waits for it forever: SIGTERM, then
nothing. ``BoundedWorker`` arms a watchdog at the first SIGTERM or SIGINT: if
the process is still alive ``timeout_s`` later it logs why and exits with
:data:`EXIT_FORCED`. A second signal exits at once. Nothing is lost by a forced
exit: offsets are committed only for processed records, so whatever was not
committed is delivered again to the next worker (at-least-once, and every stage
is idempotent by record id).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from faust.worker import Worker

from kasper.streams.logs import get_logger

log = get_logger(__name__)
EXIT_FORCED = 75  # EX_TEMPFAIL: stopped by force; a restart picks up where the commits are


class BoundedWorker(Worker):
    """``faust.Worker`` that exits by force ``timeout_s`` after a stop signal."""

    def __init__(self, *args: Any, shutdown_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shutdown_timeout_s = shutdown_timeout_s
        self._watchdog: threading.Timer | None = None

    def _schedule_shutdown(self, signum: signal.Signals) -> None:
        if self._watchdog is not None:
            _force_exit(f"second {signal.Signals(signum).name} while stopping")
        self._watchdog = threading.Timer(
            self.shutdown_timeout_s, _force_exit,
            args=(f"shutdown did not finish within {self.shutdown_timeout_s:.0f} s "
                  f"of {signal.Signals(signum).name}",))
        self._watchdog.daemon = True
        self._watchdog.start()
        super()._schedule_shutdown(signum)


def _force_exit(why: str) -> None:
    log.error("exiting by force", reason=why, exit_code=EXIT_FORCED,
              note="records not committed are delivered again after a restart")
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(EXIT_FORCED)  # no interpreter teardown: it would wait for the same stuck threads
