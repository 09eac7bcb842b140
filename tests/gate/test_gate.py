"""`prodready gate` end to end: real git repositories, real Ruff, pytest and prodready.

The central promise: an AI-assisted commit that adds a medium finding is blocked, while the
same change without the trailer passes under the default policy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SERVICE = """\
import os

import httpx


def fetch_price(client: httpx.Client) -> float:
    response = client.get(os.environ["PRICING_URL"] + "/price", timeout=2.0)
    response.raise_for_status()
    return float(response.json()["price"])
"""

# The change under review: a hard-coded localhost address (a medium finding, CFG001).
CHANGED_SERVICE = """\
import httpx

PRICING_URL = "http://localhost:8080"


def fetch_price(client: httpx.Client) -> float:
    response = client.get(f"{PRICING_URL}/price", timeout=2.0)
    response.raise_for_status()
    return float(response.json()["price"])
"""

TESTS = """\
import httpx

import service


def test_fetch_price(monkeypatch):
    monkeypatch.setenv("PRICING_URL", "http://pricing")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"price": 2.5}))
    with httpx.Client(transport=transport) as client:
        assert service.fetch_price(client) == 2.5
"""

CHANGED_TESTS = (
    TESTS
    + """

def test_price_is_a_float(monkeypatch):
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"price": 3}))
    with httpx.Client(transport=transport) as client:
        assert isinstance(service.fetch_price(client), float)
"""
)

CONFIG = """\
[gate.stage.dependencies]
offline = true
"""


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout


def _project(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "service.py").write_text(SERVICE, encoding="utf-8")
    (repo / "tests" / "conftest.py").write_text(
        "import sys, pathlib\nsys.path.insert(0, str(pathlib.Path(__file__).parents[1]))\n",
        encoding="utf-8",
    )
    (repo / "tests" / "test_service.py").write_text(TESTS, encoding="utf-8")
    (repo / "requirements.txt").write_text("httpx==0.28.1\n", encoding="utf-8")
    (repo / "prodready.toml").write_text(CONFIG, encoding="utf-8")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "Price client")
    _git(repo, "checkout", "-q", "-b", "feature")
    return repo


def _change(repo: Path, trailer: str = "") -> None:
    (repo / "service.py").write_text(CHANGED_SERVICE, encoding="utf-8")
    (repo / "tests" / "test_service.py").write_text(CHANGED_TESTS, encoding="utf-8")
    _git(repo, "add", "-A")
    message = "Read the pricing address from a constant"
    if trailer:
        message += f"\n\n{trailer}"
    _git(repo, "commit", "-q", "-m", message)


def _gate(repo: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, "-m", "prodready", "gate", str(repo), "--format", "json", "-q", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def _stages(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {stage["id"]: stage for stage in report["stages"]}


def test_an_ai_assisted_medium_finding_is_blocked(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    _change(repo, "Co-authored-by: Claude <noreply@anthropic.com>")
    code, report, _ = _gate(repo)
    assert code == 1
    assert report["verdict"]["release"] is False
    stages = _stages(report)
    assert stages["scan"]["status"] == "fail"
    assert "AI-assisted" in stages["scan"]["summary"]
    finding = next(f for f in report["findings"] if f["rule"] == "CFG001")
    assert finding["severity"] == "medium"
    assert finding["ai_assisted"] is True
    assert report["provenance"]["ai_assisted"] is True
    assert report["provenance"]["commits"][0]["assistant"]
    assert stages["unit"]["status"] == "skip"  # stopped at the first failing required stage
    assert any("scan" in reason for reason in report["verdict"]["reasons"])


def test_the_same_change_without_the_trailer_passes(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    _change(repo)
    code, report, stderr = _gate(repo)
    stages = _stages(report)
    assert code == 0, (report["verdict"], stderr[-2000:])
    finding = next(f for f in report["findings"] if f["rule"] == "CFG001")
    assert finding["ai_assisted"] is False
    assert stages["lint"]["status"] == "pass"
    assert stages["unit"]["status"] == "pass"
    assert stages["unit"]["figures"]["tests"] == 2
    assert stages["release"]["status"] == "pass"
    assert report["provenance"]["ai_assisted"] is False
    run_dir = Path(report["run"]["dir"])
    assert (run_dir / "report.json").is_file()
    assert (run_dir / "unit.junit.xml").is_file()
    assert run_dir.is_relative_to(repo / ".prodready" / "runs")


def test_ai_changes_without_tests_are_blocked_and_keep_going_runs_every_stage(
    tmp_path: Path,
) -> None:
    repo = _project(tmp_path)
    (repo / "service.py").write_text(SERVICE + "\n\ndef unused() -> None:\n    pass\n")
    _git(repo, "commit", "-q", "-am", "Add a helper\n\nAssisted-by: Cursor")
    code, report, _ = _gate(repo, "--keep-going")
    assert code == 1
    reasons = " ".join(report["verdict"]["reasons"])
    assert "requires tests" in reasons
    assert all(
        stage["status"] != "skip" or "disabled" in stage["summary"] or stage["id"] == "approval"
        for stage in report["stages"]
    )


def test_a_failing_test_blocks_and_is_named(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    (repo / "tests" / "test_service.py").write_text(
        TESTS + "\n\ndef test_broken():\n    assert 1 == 2\n"
    )
    _git(repo, "commit", "-q", "-am", "A failing test")
    code, report, _ = _gate(repo)
    stages = _stages(report)
    assert code == 1
    assert stages["unit"]["status"] == "fail"
    assert "1 of 2 tests failed" in stages["unit"]["summary"]
    assert "test_broken" in stages["unit"]["summary"]


def test_approval_required_by_policy(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    (repo / "prodready.toml").write_text(CONFIG + "\n[policy]\nrequire-approval = true\n")
    _git(repo, "commit", "-q", "-am", "Require approvals")
    code, report, _ = _gate(repo)
    assert code == 1
    assert "requires a human approval" in _stages(report)["approval"]["summary"]
    head = _git(repo, "rev-parse", "HEAD").strip()
    approval = repo / ".prodready" / "approval.toml"
    approval.write_text(f'approved-by = "Jane Doe <jane@example.com>"\ncommit = "{head}"\n')
    code, report, _ = _gate(repo)
    assert _stages(report)["approval"]["status"] == "pass"
    assert code == 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[gate]\nkeep-goin = true\n", "did you mean 'keep-going'"),
        ("[gate.stage.unit]\ntimeout = 'soon'\n", "must be a duration"),
        ("[policy.ai-assisted]\nfail-on = 'severe'\n", "must be one of"),
        ("[gate.stage.nightly]\nenabled = true\n", "unknown key"),
    ],
)
def test_configuration_errors_exit_2(tmp_path: Path, config: str, message: str) -> None:
    repo = _project(tmp_path)
    (repo / "prodready.toml").write_text(config)
    done = subprocess.run(
        [sys.executable, "-m", "prodready", "gate", str(repo)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_tool_is_a_stage_error_with_the_install_hint(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    (repo / "prodready.toml").write_text(
        CONFIG + "\n[gate.stage.lint]\ncommand = 'no-such-linter-xyz --json'\n"
    )
    _git(repo, "commit", "-q", "-am", "Custom linter")
    code, report, _ = _gate(repo, "--stages", "lint")
    lint = _stages(report)["lint"]
    assert code == 1
    assert lint["status"] == "error"
    assert "not installed" in lint["summary"] or "not found" in lint["summary"]
