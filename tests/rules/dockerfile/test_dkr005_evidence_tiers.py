"""DKR005 evidence tiers: a shell-form command that only starts a shell script is reported low
(the script decides whether SIGTERM reaches the app); a compound command or a server started
directly under the shell stays medium."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from conftest import ScanFn

from prodready.model import Config


def _severity_of(run_scan: ScanFn, tmp_path: Path, command: str) -> list[tuple[int, str, str]]:
    dockerfile = f"FROM python:3.12.4-slim-bookworm\nUSER 10001\n{command}\n"
    (tmp_path / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    result = run_scan(tmp_path, config=replace(Config(), select=("DKR005",)))
    return [(f.line, f.severity.value, f.confidence.value) for f in result.findings]


def test_a_launch_script_is_reported_low(run_scan: ScanFn, tmp_path: Path) -> None:
    assert _severity_of(run_scan, tmp_path, "CMD ./run-tailnet.sh") == [(3, "low", "low")]


def test_a_script_given_to_a_shell_is_reported_low(run_scan: ScanFn, tmp_path: Path) -> None:
    assert _severity_of(run_scan, tmp_path, "CMD bash -e /srv/start.sh") == [(3, "low", "low")]


def test_a_server_under_the_shell_stays_medium(run_scan: ScanFn, tmp_path: Path) -> None:
    found = _severity_of(run_scan, tmp_path, "CMD gunicorn --bind 0.0.0.0:8000 app:app")
    assert found == [(3, "medium", "medium")]


def test_a_script_after_another_command_stays_medium(run_scan: ScanFn, tmp_path: Path) -> None:
    found = _severity_of(run_scan, tmp_path, "CMD python -m app.migrate && ./serve.sh")
    assert found == [(3, "medium", "high")]
