"""Worker processes that die with their parent: a SIGKILLed evaluation or training run must not
leave its pool workers (about 230 MB each) scoring into the void."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1
"""prctl option: the signal the kernel sends a process when its parent dies (Linux)."""


def _set_parent_death_signal() -> None:
    """Linux: have the kernel send this process SIGTERM when its parent dies; elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):  # without it, the watchdog thread still ends the worker
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _watch_parent() -> None:
    """Exit this worker once the process that started the pool has gone (its sentinel pipe closes)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    parent.join()
    os._exit(1)


def die_with_parent() -> None:
    """Pool initializer: end this worker when its parent dies, even by SIGKILL (no orphans holding memory).

    PR_SET_PDEATHSIG where the kernel has it, and a thread that exits once the parent has gone
    (also when it went before this worker started).
    """
    _set_parent_death_signal()
    threading.Thread(target=_watch_parent, name="watch-parent", daemon=True).start()


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform has it, else the count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
