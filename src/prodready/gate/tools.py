"""Running an external tool for a stage: bounded by a timeout, output kept in the run directory.

A missing tool is a clear stage error with the install hint, never a crash.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from prodready.gate.model import GateError


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
    """Run ``argv`` in its own process group; on timeout the whole group is killed."""
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
    timed_out = False
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(process.pid)
        stdout, stderr = process.communicate(timeout=10)
    except BaseException:
        _kill_group(process.pid)  # Ctrl-C: leave nothing behind
        raise
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


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return


def module_missing(run: ToolRun, module: str) -> bool:
    """``python -m MODULE`` when MODULE is not installed in that interpreter."""
    return run.returncode == 1 and f"No module named {module}" in run.stderr
