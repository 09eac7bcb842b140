"""The gate on the bundled examples, each copied into its own git repository: the
production-grade service is released, the AI-style one is blocked with the failing stages named.
Real Ruff, pytest, prodready scan/deps and the probe (Locust, Schemathesis) - nothing mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _repository(example: str, tmp_path: Path) -> Path:
    repo = tmp_path / example
    shutil.copytree(
        ROOT / "examples" / "services" / example,
        repo,
        ignore=shutil.ignore_patterns(".prodready", "__pycache__", "*.db*"),
    )
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", "x"],
    ):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, timeout=30)
    return repo


def _gate(repo: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, "-m", "prodready", "gate", str(repo), "--format", "json", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert done.stdout.strip(), done.stderr[-3000:]
    return done.returncode, json.loads(done.stdout), done.stderr


def test_the_production_grade_example_is_released(tmp_path: Path) -> None:
    code, report, stderr = _gate(_repository("production", tmp_path))
    statuses = {stage["id"]: stage["status"] for stage in report["stages"]}
    assert code == 0, (report["verdict"], stderr[-3000:])
    for stage in ("lint", "scan", "dependencies", "unit", "performance", "sandbox", "release"):
        assert statuses[stage] == "pass", stage
    assert report["readiness"]["overall"] in ("bronze", "silver", "gold")


def test_the_ai_style_example_is_blocked_naming_the_failing_stages(tmp_path: Path) -> None:
    repo = _repository("ai-style", tmp_path)
    code, report, _ = _gate(repo, "--keep-going")
    assert code == 1
    failing = {stage["id"] for stage in report["stages"] if stage["status"] == "fail"}
    assert {"scan", "unit", "performance", "sandbox", "release"} <= failing
    reasons = " ".join(report["verdict"]["reasons"])
    for stage in ("scan", "unit", "performance", "sandbox"):
        assert f"stage {stage} fail" in reasons
    markdown = subprocess.run(
        [sys.executable, "-m", "prodready", "gate", str(repo), "--stages", "scan",
         "--format", "markdown", "-q"],
        capture_output=True, text=True, timeout=120, check=False,
    ).stdout  # fmt: skip
    assert "`scan`" in markdown and "RES001" in markdown
