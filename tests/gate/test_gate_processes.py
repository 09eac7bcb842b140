"""Stage commands that outlive their timeout: the whole process tree goes, and the stage says
it timed out - also when a child left the process group (``setsid``) holding the output pipes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from process_trees import pid_from, running

from prodready.gate.tools import run_tool

# Forks a child that calls setsid() - leaving the process group the gate kills - and keeps the
# inherited stdout/stderr; then both sleep far past the stage's timeout.
DETACHING = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    with open(sys.argv[1], "w") as out:
        out.write(str(os.getpid()))
    time.sleep(120)
    with open(sys.argv[1] + ".done", "w") as out:  # it ran to the end: nobody killed it
        out.write("done")
    os._exit(0)
print("started", flush=True)
time.sleep(120)
"""


def _kill(pid: int) -> None:
    if pid > 0:  # never 0: os.kill(0, ...) signals our own process group
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def test_a_timed_out_tool_and_its_detached_child_are_killed(tmp_path: Path) -> None:
    (tmp_path / "detach.py").write_text(DETACHING, encoding="utf-8")
    marker = tmp_path / "child.pid"
    try:
        run = run_tool(
            [sys.executable, "detach.py", str(marker)],
            cwd=tmp_path,
            timeout=3,
            run_dir=tmp_path,
            name="lint",
        )
    finally:
        child = pid_from(marker)
        survived = running(child)
        _kill(child)
    assert run.timed_out
    assert run.returncode is None
    assert run.stdout == "started\n"
    assert (tmp_path / "lint.stdout.txt").read_text(encoding="utf-8") == "started\n"
    # Killed, not waited for: waiting on its pipes would let it finish its sleep.
    assert not survived
    assert not Path(f"{marker}.done").exists()


def test_a_stage_that_times_out_says_so_and_leaves_nothing_behind(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "detach.py").write_text(DETACHING, encoding="utf-8")
    marker = tmp_path / "child.pid"
    (project / "prodready.toml").write_text(
        f"[gate.stage.lint]\ncommand = '{sys.executable} detach.py {marker}'\ntimeout = 3\n",
        encoding="utf-8",
    )
    child = 0
    try:
        done = subprocess.run(
            [sys.executable, "-m", "prodready", "gate", str(project), "--stages", "lint",
             "--format", "json", "-q"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        child = pid_from(marker)
        survived = running(child)
    finally:
        _kill(child)
    assert done.returncode == 1, done.stderr
    lint = next(stage for stage in json.loads(done.stdout)["stages"] if stage["id"] == "lint")
    assert lint["status"] == "error"
    assert lint["summary"] == (
        "timed out after 3 s (gate.stage.lint.timeout); its processes were killed"
    )
    assert not survived
    assert not Path(f"{marker}.done").exists()
