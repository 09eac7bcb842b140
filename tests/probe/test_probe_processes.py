"""Processes that try to outlive the probe: detached children, a budget that must hold, SIGTERM.

Real services in real subprocesses. Every test checks that nothing the run started survives
and that the run's temporary directory is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from process_trees import pid_from, running

from prodready.probe.sandbox import ServiceProcess, build_argv, free_port, scrubbed_environment
from prodready.probe.settings import Limits

# A small HTTP service. With "detach" it first forks a child that calls setsid() - leaving the
# service's process group - and keeps the inherited stdout/stderr open: the pipes the probe
# reads. With "double" that child forks once more and exits, so the survivor is reparented to
# init and no longer descends from the service. With "slow" every request takes 30 s.
SERVICE = """
import http.server, os, sys, time
marks, mode = sys.argv[1], sys.argv[2]
if mode in ("detach", "double"):
    if os.fork() == 0:
        os.setsid()
        if mode == "double" and os.fork():
            os._exit(0)
        with open(os.path.join(marks, "child.pid"), "w") as out:
            out.write(str(os.getpid()))
        print("detached child running", flush=True)
        time.sleep(120)
        os._exit(0)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if mode == "slow":
            time.sleep(30)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
with open(os.path.join(marks, "service.pid"), "w") as out:
    out.write(str(os.getpid()))
server.serve_forever()
"""


def _write_service(tmp_path: Path) -> tuple[Path, Path]:
    script = tmp_path / "svc.py"
    script.write_text(SERVICE, encoding="utf-8")
    marks = tmp_path / "marks"
    marks.mkdir()
    return script, marks


def _kill_leftovers(*pids: int) -> None:
    for pid in pids:
        if pid <= 0:  # never 0: os.kill(0, ...) signals our own process group
            continue
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _wait_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _port_free(port):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listened on {port}")


@pytest.mark.parametrize("mode", ["detach", "double"])
def test_stop_kills_a_detached_child_that_holds_the_output_pipes(tmp_path: Path, mode: str) -> None:
    script, marks = _write_service(tmp_path)
    port = free_port()
    argv = build_argv(f"{sys.executable} {script} {marks} {mode}", port, tmp_path)
    (tmp_path / "work").mkdir()
    env, _ = scrubbed_environment({"PORT": str(port)}, home=tmp_path, project_dir=tmp_path)
    service = ServiceProcess(
        argv,
        port=port,
        env=env,
        workdir=tmp_path / "work",
        limits=Limits(memory_bytes=3 * 1024**3, open_files=256, cpu_seconds=120),
    )
    service.start()
    child = service_pid = 0
    try:
        service.wait_listening(20)
        child = pid_from(marks / "child.pid")
        service_pid = pid_from(marks / "service.pid")
        began = time.monotonic()
        stopped = threading.Event()

        def stop() -> None:
            service.stop(grace=2.0)
            stopped.set()

        threading.Thread(target=stop, daemon=True).start()
        assert stopped.wait(timeout=20), "stop() hung on the detached child's pipe"
        elapsed = time.monotonic() - began
        assert elapsed < 8, elapsed
        assert not running(child)
        assert not running(service_pid)
    finally:
        _kill_leftovers(child, service_pid)


def _probe(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], Path]:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "prodready", "probe", "-q", *args],
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, scratch


def test_a_detached_child_does_not_hang_the_probe_and_is_killed(tmp_path: Path) -> None:
    script, marks = _write_service(tmp_path)
    process, scratch = _probe(
        tmp_path, "--cmd", f"{sys.executable} {script} {marks} detach", "--only", "liveness",
        "--budget", "30", "--format", "json",
    )  # fmt: skip
    began = time.monotonic()
    child = service_pid = 0
    try:
        child = pid_from(marks / "child.pid")
        service_pid = pid_from(marks / "service.pid")
        stdout, stderr = process.communicate(timeout=60)
        elapsed = time.monotonic() - began
    finally:
        _kill_leftovers(child, service_pid, process.pid)
        process.communicate()
    assert process.returncode == 0, stderr
    assert '"id": "liveness"' in stdout
    assert stderr == ""
    assert elapsed < 30, elapsed
    assert not running(child)
    assert not running(service_pid)
    assert list(scratch.iterdir()) == []


def test_the_budget_bounds_the_wait_for_a_service_that_never_listens(tmp_path: Path) -> None:
    (tmp_path / "never.py").write_text("import time\ntime.sleep(120)\n", encoding="utf-8")
    process, scratch = _probe(tmp_path, "--cmd", f"{sys.executable} never.py", "--budget", "10")
    began = time.monotonic()
    try:
        _stdout, stderr = process.communicate(timeout=60)
    finally:
        _kill_leftovers(process.pid)
    elapsed = time.monotonic() - began
    assert process.returncode == 2
    lines = stderr.splitlines()
    assert lines[0].startswith("prodready: error: the service did not listen on 127.0.0.1:")
    assert lines[0].endswith(
        " within the run's --budget of 10 s (it gets the port in $PORT and as {port} in the "
        "command); it printed nothing"
    )
    assert len(lines) == 1
    assert elapsed < 20, elapsed  # 30.7 s before: the 30 s start-up timeout ignored the budget
    assert list(scratch.iterdir()) == []


def test_sigterm_stops_the_service_and_removes_the_temporary_directory(tmp_path: Path) -> None:
    script, marks = _write_service(tmp_path)
    process, scratch = _probe(
        tmp_path, "--cmd", f"{sys.executable} {script} {marks} slow", "--only", "liveness",
        "--budget", "60",
    )  # fmt: skip
    service_pid = 0
    try:
        service_pid = pid_from(marks / "service.pid")
        port = int(psutil.Process(service_pid).environ()["PORT"])
        _wait_listening(port)
        time.sleep(0.5)  # the probe is now waiting on the (slow) service
        process.send_signal(signal.SIGTERM)
        _stdout, stderr = process.communicate(timeout=30)
    finally:
        _kill_leftovers(service_pid, process.pid)
        process.communicate()
    assert process.returncode == 143
    assert stderr == "prodready: terminated\n"
    assert not running(service_pid)
    assert _port_free(port)
    assert list(scratch.iterdir()) == []


def test_the_budget_is_a_hard_deadline_for_a_service_that_hangs(tmp_path: Path) -> None:
    """Every request to this service takes 30 s: discovery alone would outlast the budget."""
    script, marks = _write_service(tmp_path)
    process, scratch = _probe(
        tmp_path, "--cmd", f"{sys.executable} {script} {marks} slow", "--only", "liveness",
        "--budget", "10", "--format", "json",
    )  # fmt: skip
    began = time.monotonic()
    service_pid = 0
    try:
        service_pid = pid_from(marks / "service.pid")
        stdout, stderr = process.communicate(timeout=60)
    finally:
        _kill_leftovers(service_pid, process.pid)
        process.communicate()
    elapsed = time.monotonic() - began
    assert process.returncode == 0, stderr
    (liveness,) = json.loads(stdout)["checks"]
    assert liveness["status"] == "skip"
    assert liveness["reason"] == "the run's --budget was used up before this check"
    assert elapsed < 20, elapsed
    assert not running(service_pid)
    assert list(scratch.iterdir()) == []
