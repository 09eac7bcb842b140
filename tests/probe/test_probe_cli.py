"""`prodready probe` usage errors and start-up failures: one clear line, exit 2, no traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prodready", "probe", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no command to start the service"),
        (("--cmd", "python x.py", "--dep", "gateway"), "write NAME=ENVVAR"),
        (("--cmd", "python x.py", "--only", "readyness"), "did you mean 'readiness'"),
        (("--cmd", "no-such-program-xyz"), "not found on PATH"),
        (("--cmd", "python x.py", "--config", "missing.toml"), "cannot read probe configuration"),
    ],
)
def test_usage_errors(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    done = _run(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_service_that_dies_at_start_is_exit_2_with_its_output(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "import sys\nprint('KeyError: DATABASE_URL', file=sys.stderr)\nsys.exit(1)\n",
        encoding="utf-8",
    )
    done = _run("--cmd", f"{sys.executable} app.py", cwd=tmp_path)
    assert done.returncode == 2
    assert "exited with code 1 before listening" in done.stderr
    assert "KeyError: DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr.replace("KeyError", "")


def test_a_dead_real_dependency_is_named(tmp_path: Path) -> None:
    port = _closed_port()
    done = _run(
        "--cmd",
        f"{sys.executable} -m http.server {{port}}",
        "--dep",
        f"db=DATABASE_URL=tcp://127.0.0.1:{port}",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert f"dependency db: tcp://127.0.0.1:{port} does not accept connections" in done.stderr


def test_a_broken_probe_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "probe.toml").write_text('[load]\nusers = "many"\n', encoding="utf-8")
    done = _run("--cmd", "python x.py", "--config", "probe.toml", cwd=tmp_path)
    assert done.returncode == 2
    assert "load.users must be an integer" in done.stderr


def test_a_plain_server_without_openapi_or_signal_handler(tmp_path: Path) -> None:
    """Checks that need an OpenAPI document skip with the reason; a shutdown nothing was in
    flight for is inconclusive, not a pass."""
    import json

    done = _run(
        "--cmd",
        f"{sys.executable} -m http.server {{port}} --bind 127.0.0.1",
        "--only",
        "malformed-input,graceful-shutdown",
        "--format",
        "json",
        "-q",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    checks = {check["id"]: check for check in json.loads(done.stdout)["checks"]}
    assert checks["malformed-input"]["status"] == "skip"
    assert "no OpenAPI document" in checks["malformed-input"]["reason"]
    shutdown = checks["graceful-shutdown"]
    assert shutdown["status"] == "skip"
    assert "inconclusive" in shutdown["reason"]
    assert shutdown["evidence"]["exit_code"] == -15


def test_the_config_option_names_prodready_toml(tmp_path: Path) -> None:
    done = _run("--help", cwd=tmp_path)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert (
        "--config FILE Probe settings: prodready.toml, pyproject.toml or a probe TOML file "
        "[default: [probe] of ./prodready.toml, else [tool.prodready.probe] of ./pyproject.toml]."
    ) in text
