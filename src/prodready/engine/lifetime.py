"""Worker processes never outlive the scan that started them.

A CI runner that stops a scan by PID and then waits for its output pipe to close must not hang:
pool workers inherit the scan's stdout and stderr, so a worker left behind holds them open. The
parent kills its workers when it gets SIGTERM; each worker dies with its parent (SIGKILL via
``PR_SET_PDEATHSIG`` on Linux, and a thread that watches the parent pid everywhere).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
PARENT_POLL_S = 0.5


def exit_with_parent(parent: int) -> None:
    """Called first in a worker: die as soon as the process ``parent`` is gone."""
    # A worker forked while the parent's SIGTERM handler was installed would run it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        # Without a libc to ask, the watcher thread below still works.
        with suppress(OSError, AttributeError):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent,), name="prodready-parent-watch", daemon=True
    ).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


@contextmanager
def children_die_on_sigterm() -> Iterator[None]:
    """While inside, SIGTERM kills this process's multiprocessing children, then the process
    (exit status 143, as the default action reports it) -- or hands over to a handler the
    caller installed. Only the main thread can set handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN:
        yield
        return

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        _kill_children()
        signal.signal(signal.SIGTERM, previous)
        if callable(previous):
            previous(signum, frame)
            return
        os._exit(128 + signum)

    handler: Any = on_sigterm
    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _kill_children() -> None:
    import multiprocessing

    for child in multiprocessing.active_children():
        with suppress(OSError, ValueError):  # already gone, or already closed
            child.kill()
