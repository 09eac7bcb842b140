"""The sandbox: a real service process with limits, a scrubbed environment and a process group."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from pathlib import Path

import psutil
import pytest

from prodready.probe.model import ProbeError
from prodready.probe.sandbox import ServiceProcess, build_argv, free_port, scrubbed_environment
from prodready.probe.settings import Limits

SERVICE = """
import json, os, resource, socket, subprocess, sys, time
info = {
    "env": dict(os.environ),
    "cwd": os.getcwd(),
    "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    "as": resource.getrlimit(resource.RLIMIT_AS)[0],
}
print(json.dumps(info), flush=True)
if "--child" in sys.argv:
    # A grandchild in the same process group: stop() must take it down too.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print(f"child-started {child.pid}", flush=True)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(os.environ["PORT"])))
server.listen()
for _ in range(600):
    time.sleep(0.1)
"""


def _service(
    tmp_path: Path, script: str, *args: str, env: dict[str, str] | None = None
) -> ServiceProcess:
    (tmp_path / "svc.py").write_text(script, encoding="utf-8")
    port = free_port()
    argv = build_argv(f"{sys.executable} svc.py {' '.join(args)}", port, tmp_path)
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    environment, _ = scrubbed_environment(
        {"PORT": str(port), **(env or {})}, home=tmp_path, project_dir=tmp_path
    )
    return ServiceProcess(
        argv,
        port=port,
        env=environment,
        workdir=workdir,
        limits=Limits(memory_bytes=3 * 1024**3, open_files=256, cpu_seconds=120),
    )


def _first_json(service: ServiceProcess) -> dict[str, object]:
    for _ in range(100):
        for line in service.output_since(0):
            if line.text.startswith("{"):
                return json.loads(line.text)  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError("the service printed no JSON line")


def test_service_runs_fenced_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    service = _service(tmp_path, SERVICE, env={"GATEWAY_URL": "http://127.0.0.1:1"})
    try:
        service.start()
        service.wait_listening(20)
        info = _first_json(service)
    finally:
        service.stop()
    env = info["env"]
    assert isinstance(env, dict)
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["GATEWAY_URL"] == "http://127.0.0.1:1"
    assert env["HOME"] == str(tmp_path)
    assert info["cwd"] == str(tmp_path / "work")
    assert info["nofile"] == 256
    assert info["as"] == 3 * 1024**3


def test_stop_takes_down_the_whole_process_group(tmp_path: Path) -> None:
    service = _service(tmp_path, SERVICE, "--child")
    service.start()
    service.wait_listening(20)
    pid = service.pid
    assert pid is not None
    child = 0
    for _ in range(100):
        started = [line.text for line in service.output_since(0) if "child-started" in line.text]
        if started:
            child = int(started[0].split()[1])
            break
        time.sleep(0.05)
    assert child
    assert service.rss_bytes() > 0
    service.stop(grace=2.0)
    for member in (pid, child):
        # Gone, or a zombie waiting for a reaper: either way nothing runs any more.
        with contextlib.suppress(psutil.NoSuchProcess):
            assert psutil.Process(member).status() == psutil.STATUS_ZOMBIE


def test_exit_before_listening_reports_the_output(tmp_path: Path) -> None:
    service = _service(tmp_path, "print('cannot connect to the database'); raise SystemExit(3)")
    service.start()
    with pytest.raises(ProbeError, match=r"(?s)exited with code 3.*cannot connect to the database"):
        service.wait_listening(20)
    service.stop()


def test_never_listening_is_bounded(tmp_path: Path) -> None:
    service = _service(tmp_path, "import time\nprint('starting', flush=True)\ntime.sleep(30)")
    service.start()
    with pytest.raises(ProbeError, match=r"(?s)did not listen .* within 1 s.*starting"):
        service.wait_listening(1)
    service.stop(grace=1.0)


def test_relative_paths_in_the_command_point_at_the_project(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("", encoding="utf-8")
    argv = build_argv("python app/main.py --port {port}", 8123, tmp_path)
    assert argv[1] == str(tmp_path / "app" / "main.py")
    assert argv[-1] == "8123"
    with pytest.raises(ProbeError, match="not found on PATH"):
        build_argv("no-such-program-xyz serve", 1, tmp_path)
    with pytest.raises(ProbeError, match="cannot split"):
        build_argv("python 'unterminated", 1, tmp_path)


ISOLATED = """
import os
import shutil, socket, sys, time
from pathlib import Path
target = Path(sys.argv[1]) / "escape.txt"
try:
    target.write_text("escaped")
    print("wrote-outside", flush=True)
except OSError:
    print("outside-read-only", flush=True)
Path("inside.txt").write_text("ok")
print("wrote-inside", flush=True)
server = socket.socket()
server.bind(("127.0.0.1", int(os.environ["PORT"])))
server.listen()
time.sleep(30)
"""


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
def test_isolate_gives_a_read_only_view_of_the_filesystem(tmp_path: Path) -> None:
    outside = tmp_path / "project-data"
    outside.mkdir()
    (tmp_path / "svc.py").write_text(ISOLATED, encoding="utf-8")
    port = free_port()
    workdir = tmp_path / "work"
    workdir.mkdir()
    environment, _ = scrubbed_environment({"PORT": str(port)}, home=workdir, project_dir=tmp_path)
    service = ServiceProcess(
        build_argv(f"{sys.executable} svc.py {outside}", port, tmp_path),
        port=port,
        env=environment,
        workdir=workdir,
        limits=Limits(),
        isolate=True,
    )
    try:
        service.start()
        service.wait_listening(20)
        printed = [line.text for line in service.output_since(0)]
    finally:
        service.stop(grace=1.0)
    assert "outside-read-only" in printed
    assert "wrote-inside" in printed
    assert not (outside / "escape.txt").exists()
    assert (workdir / "inside.txt").read_text() == "ok"
