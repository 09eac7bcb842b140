"""Find and kill every process a run started, also those that left its process group.

A service (or a gate stage's command) may start children that call ``setsid()``: daemons,
"detached" helpers. They leave the process group, so ``killpg`` misses them, and while they
keep the run's stdout/stderr open, reading those pipes to the end never returns. They are found
three ways, from ``/proc`` (Linux; elsewhere only the process group is signalled):

- descendants by parent pid, recorded while the run goes on (:meth:`ProcessTree.track`): a
  double-forked child is reparented to init and loses its link to the run;
- members of the sessions seen: the run's own and those its descendants created;
- processes holding one of the run's pipes open (the ones that would hang the reader).

Recorded processes are identified by pid and start time, so a recycled pid is never killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TRACK_INTERVAL_S = 0.25
_SWEEP_ROUNDS = 5


@dataclass(frozen=True)
class _Proc:
    pid: int
    ppid: int
    sid: int
    start: int  # clock ticks since boot: with the pid, identifies one process


def _stat(pid: int) -> _Proc | None:
    try:
        data = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
    fields = data[data.rfind(b")") + 2 :].split()
    if len(fields) < 20 or fields[0] == b"Z":  # a zombie is already dead
        return None
    return _Proc(pid, int(fields[1]), int(fields[3]), int(fields[19]))


def _snapshot() -> dict[int, _Proc]:
    try:
        names = os.listdir(_PROC)
    except OSError:
        return {}
    table = {}
    for name in names:
        if name.isdigit():
            info = _stat(int(name))
            if info is not None:
                table[info.pid] = info
    return table


def _pipe_inodes(fds: Iterable[int]) -> set[int]:
    inodes = set()
    for fd in fds:
        with contextlib.suppress(OSError):
            inodes.add(os.fstat(fd).st_ino)
    return inodes


def _holds_pipe(pid: int, inodes: set[int]) -> bool:
    wanted = {f"pipe:[{inode}]" for inode in inodes}
    try:
        fds = os.listdir(_PROC / str(pid) / "fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(_PROC / str(pid) / "fd" / fd) in wanted:
                return True
    return False


def _ancestors() -> set[int]:
    """This process and its ancestors: never a sweep's target, whatever session they share."""
    mine = {os.getpid()}
    pid = os.getppid()
    while pid > 1 and pid not in mine:
        mine.add(pid)
        info = _stat(pid)
        pid = info.ppid if info else 0
    return mine


class ProcessTree:
    """The processes of one run, rooted at ``root`` (started with a new session)."""

    def __init__(self, root: int, pipe_fds: Iterable[int] = ()) -> None:
        self.root = root
        self._pipes = _pipe_inodes(pipe_fds)
        self._known: dict[int, int] = {}  # pid -> start time
        self._sessions: set[int] = set()
        self._own_session = _session_of(0)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._tracker: threading.Thread | None = None
        self.record()

    def record(self) -> None:
        """Remember the root's current descendants and the sessions they are in."""
        table = _snapshot()
        with self._lock:
            roots = {self.root} | {
                pid for pid, start in self._known.items() if _same(table, pid, start)
            }
            for info in _descendants(table, roots):
                self._known.setdefault(info.pid, info.start)
                if info.sid not in (self._own_session, 0):
                    self._sessions.add(info.sid)

    def track(self) -> None:
        """Keep recording in the background until :meth:`close`."""
        if self._tracker is not None or not _PROC.is_dir():
            return
        self._tracker = threading.Thread(target=self._track, name="prodready-tree", daemon=True)
        self._tracker.start()

    def _track(self) -> None:
        while not self._stop.wait(_TRACK_INTERVAL_S):
            self.record()

    def close(self) -> None:
        self._stop.set()
        if self._tracker is not None:
            self._tracker.join(timeout=2.0)
            self._tracker = None

    def members(self) -> list[int]:
        """Every live process of the run, the root included while it runs (the root was
        recorded with its start time: a recycled pid is someone else's)."""
        table = _snapshot()
        spared = _ancestors()
        with self._lock:
            roots = {pid for pid, start in self._known.items() if _same(table, pid, start)}
            roots |= {info.pid for info in table.values() if info.sid in self._sessions}
        if self._pipes:
            roots |= {pid for pid in table if pid not in spared and _holds_pipe(pid, self._pipes)}
        found = {info.pid for info in _descendants(table, roots)} - spared
        return sorted(found)

    def signal(self, signum: int) -> list[int]:
        """Send ``signum`` to every member; the pids signalled."""
        signalled = []
        for pid in self.members():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)
                signalled.append(pid)
        return signalled

    def kill(self) -> None:
        """SIGKILL every member, again until none is left (a member may fork meanwhile)."""
        for _ in range(_SWEEP_ROUNDS):
            if not self.signal(signal.SIGKILL):
                return


def _session_of(pid: int) -> int:
    try:
        return os.getsid(pid)
    except OSError:
        return -1


def _same(table: dict[int, _Proc], pid: int, start: int) -> bool:
    info = table.get(pid)
    return info is not None and info.start == start


def _descendants(table: dict[int, _Proc], roots: set[int]) -> list[_Proc]:
    """``roots`` (those alive) and everything below them."""
    children: dict[int, list[_Proc]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info)
    found: dict[int, _Proc] = {}
    pending = [table[pid] for pid in roots if pid in table]
    while pending:
        info = pending.pop()
        if info.pid in found:
            continue
        found[info.pid] = info
        pending.extend(children.get(info.pid, ()))
    return list(found.values())
