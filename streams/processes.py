"""Child processes that never outlive the process that started them.

``kasper broker``, the embedded judge server and ``kasper up``'s worker are
child processes. Each is started with :func:`die_with_parent` as its
``preexec_fn``: on Linux the kernel sends it SIGTERM when the thread that
started it ends (``PR_SET_PDEATHSIG``), so even a SIGKILLed parent leaves no
orphan behind. Start children from a thread that lives as long as they should
(the main thread): the signal follows the thread, not the process. :func:`terminate`
stops one: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` tying the child to this thread (Linux); None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork: nothing to load in the child
    return lambda: prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def terminate(proc: subprocess.Popen, grace_s: float) -> bool:
    """SIGTERM ``proc``, then SIGKILL if it has not exited within ``grace_s``; always reaps
    it. Returns whether it had to be killed (the caller says so in its own words)."""
    if proc.poll() is not None:
        return False
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
        return False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return True
