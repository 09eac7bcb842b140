"""The real probe against the two example services: every check passes on the production-grade
one and fails on the AI-happy-path one, through the real CLI (processes, sockets, Locust,
Schemathesis - nothing mocked).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from prodready.probe.model import CHECK_IDS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "services"

pytestmark = pytest.mark.slow


def _probe(service: str, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    report = tmp_path / f"{service}.json"
    command = [
        sys.executable,
        "-m",
        "prodready",
        "probe",
        "--cmd",
        f"{sys.executable} app.py",
        "--config",
        str(EXAMPLES / service / "prodready.toml"),
        "--format",
        "json",
        "--output",
        str(report),
        "--artifacts",
        str(tmp_path / f"{service}-artifacts"),
        *extra,
    ]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=400, check=False
    )
    assert report.exists(), done.stderr[-3000:]
    return done.returncode, json.loads(report.read_text(encoding="utf-8")), done.stderr


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    return _probe("production", tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    return _probe("ai-style", tmp_path_factory.mktemp("bad"))


def _statuses(report: dict[str, Any]) -> dict[str, str]:
    return {check["id"]: check["status"] for check in report["checks"]}


def test_the_production_grade_service_passes_every_check(
    good: tuple[int, dict[str, Any], str],
) -> None:
    code, report, stderr = good
    failing = {c["id"]: c["reason"] for c in report["checks"] if c["status"] != "pass"}
    assert failing == {}, stderr[-2000:]
    assert code == 0
    assert [check["id"] for check in report["checks"]] == list(CHECK_IDS)
    assert report["summary"]["verdict"] == "pass"
    assert report["target"]["dependencies"][0]["env"] == "GATEWAY_URL"


def test_the_ai_happy_path_service_fails_where_its_defects_are(
    bad: tuple[int, dict[str, Any], str],
) -> None:
    code, report, stderr = bad
    statuses = _statuses(report)
    not_failed = {check: status for check, status in statuses.items() if status != "fail"}
    assert not_failed == {}, stderr[-2000:]
    assert code == 1
    assert report["summary"]["verdict"] == "fail"


def test_failures_carry_their_evidence(bad: tuple[int, dict[str, Any], str]) -> None:
    _, report, _ = bad
    checks = {check["id"]: check for check in report["checks"]}
    fuzz = checks["malformed-input"]["evidence"]["failures"]
    assert any("curl" in failure["reproduce"] for failure in fuzz)
    assert any(failure["status"] == 500 for failure in fuzz)
    assert "side effects" in checks["idempotency"]["reason"]
    assert "lost update" in checks["concurrency"]["reason"]
    concurrency = checks["concurrency"]["evidence"]["no lost debits"]
    assert concurrency["after"] != concurrency["expected"]
    assert checks["memory-growth"]["evidence"]["growth_per_1000_requests_mb"] > 0.5
    assert checks["graceful-shutdown"]["evidence"]["in_flight_results"].count(200) < 5
    assert "no readiness endpoint" in checks["readiness"]["reason"]


def test_the_text_report_reads_like_a_scorecard(tmp_path: Path) -> None:
    """A short run (two checks) through the text and HTML formats."""
    text_out = tmp_path / "report.txt"
    html_out = tmp_path / "report.html"
    for fmt, out in (("text", text_out), ("html", html_out)):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "prodready",
                "probe",
                "--cmd",
                f"{sys.executable} {EXAMPLES / 'production' / 'app.py'}",
                "--dep",
                "gateway=GATEWAY_URL",
                "--only",
                "liveness,readiness",
                "--format",
                fmt,
                "--output",
                str(out),
                "-q",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    text = text_out.read_text(encoding="utf-8")
    assert "liveness" in text and "readiness" in text and "PASS" in text
    html = html_out.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "liveness" in html and "<script src" not in html
