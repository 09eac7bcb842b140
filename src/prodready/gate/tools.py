"""Running an external tool for a stage: bounded by a timeout, output kept in the run directory.

A missing tool is a clear stage error with the install hint, never a crash.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from prodready.gate.model import GateError
from prodready.probe.proctree import ProcessTree

_DRAIN_S = 2.0


@dataclass
class ToolRun:
    argv: list[str]
    returncode: int | None  # None: timed out or could not start
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    missing: bool = False
    stdout_file: str = ""
    stderr_file: str = ""

    def tail(self, lines: int = 15) -> str:
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return "\n".join(text[-lines:])


def split_command(command: str, where: str) -> list[str]:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise GateError(f"{where}: cannot split {command!r} into words: {exc}") from exc
    if not argv:
        raise GateError(f"{where}: the command is empty")
    return argv


def run_tool(argv: list[str], *, cwd: Path, timeout: float, run_dir: Path, name: str) -> ToolRun:
    """Run ``argv`` in its own session; on timeout its whole process tree is killed, processes
    that left the group included (see :mod:`prodready.probe.proctree`)."""
    started = time.monotonic()
    stdout_path = run_dir / f"{name}.stdout.txt"
    stderr_path = run_dir / f"{name}.stderr.txt"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except FileNotFoundError:
        return ToolRun(argv, None, "", "", time.monotonic() - started, missing=True)
    except OSError as exc:
        return ToolRun(argv, None, "", str(exc), time.monotonic() - started, missing=True)
    tree = ProcessTree(process.pid, [stream.fileno() for stream in _pipes(process)])
    tree.track()
    timed_out = False
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_tree(process.pid, tree)
        stdout, stderr = _drain(process)
    except BaseException:
        _kill_tree(process.pid, tree)  # Ctrl-C: leave nothing behind
        raise
    finally:
        tree.close()
    # A command that finished may still have left a detached helper running. (Not killpg:
    # the leader is reaped, its group id may be anyone's by now; the tree knows the members.)
    tree.kill()
    stdout_path.write_text(stdout, encoding="utf-8")
    stderr_path.write_text(stderr, encoding="utf-8")
    return ToolRun(
        argv,
        None if timed_out else process.returncode,
        stdout,
        stderr,
        time.monotonic() - started,
        timed_out=timed_out,
        stdout_file=stdout_path.name,
        stderr_file=stderr_path.name,
    )


def _pipes(process: subprocess.Popen[str]) -> list[IO[str]]:
    return [stream for stream in (process.stdout, process.stderr) if stream is not None]


def _kill_tree(pid: int, tree: ProcessTree) -> None:
    """SIGKILL the command's process group and every process that left it (``setsid``)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    tree.kill()


def _drain(process: subprocess.Popen[str]) -> tuple[str, str]:
    """The output after a kill. Should a process the kill could not reach still hold a pipe,
    stop reading instead of waiting for it: the pipes are closed, the output so far is lost."""
    try:
        return process.communicate(timeout=_DRAIN_S)
    except subprocess.TimeoutExpired:
        for stream in _pipes(process):
            stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_DRAIN_S)
        return "", ""


def module_missing(run: ToolRun, module: str) -> bool:
    """``python -m MODULE`` when MODULE is not installed in that interpreter."""
    return run.returncode == 1 and f"No module named {module}" in run.stderr
