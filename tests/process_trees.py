"""Helpers for tests that start real process trees (probe services, gate tool commands)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import psutil


def pid_from(path: Path, timeout: float = 15.0) -> int:
    """The pid a test process wrote to ``path``, waiting for it to appear."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            return int(path.read_text(encoding="utf-8"))
        time.sleep(0.05)
    raise AssertionError(f"{path.name} was never written")


def running(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting for its reaper."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
