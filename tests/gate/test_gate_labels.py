"""The gate names stages and readiness axes for what they hold: the scan stage is "scan", a
finding counts on its own category's axis, stages nobody asked for are "not selected", counts
have proper plurals, and the probe stages report their own time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from prodready.gate.model import Provenance, StageStatus
from prodready.gate.settings import GateSettings
from prodready.gate.stages import probe
from prodready.gate.stages.base import StageContext
from prodready.probe.model import CheckResult, ProbeReport, ProbeTarget, Status

# A missing timeout (RES001, high): a resilience finding, nothing to do with security (and the
# only finding: the address comes from the caller, the status is checked).
SERVICE = """\
import requests


def price(url: str) -> float:
    response = requests.get(url)
    response.raise_for_status()
    return float(response.json()["price"])
"""


def _project(tmp_path: Path, config: str = "") -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "service.py").write_text(SERVICE, encoding="utf-8")
    (project / "prodready.toml").write_text(config, encoding="utf-8")
    return project


def _gate(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prodready", "gate", str(project), "-q", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _json(project: Path, *args: str, code: int = 1) -> dict[str, Any]:
    done = _gate(project, "--format", "json", *args)
    assert done.returncode == code, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_a_resilience_finding_fails_the_scan_stage_and_counts_on_its_own_axis(
    tmp_path: Path,
) -> None:
    report = _json(_project(tmp_path), "--stages", "scan")
    stages = {stage["id"]: stage for stage in report["stages"]}
    assert stages["scan"]["status"] == "fail"
    assert stages["scan"]["summary"] == (
        "1 blocking scan finding; worst: RES001 high at service.py:5"
    )
    ((finding),) = report["findings"]
    assert (finding["stage"], finding["category"], finding["axis"]) == (
        "scan",
        "resilience",
        "architecture",
    )
    axes = {axis["axis"]: axis for axis in report["readiness"]["axes"]}
    assert axes["architecture"]["level"] == "none"
    assert axes["architecture"]["reasons"] == ["not bronze: 1 finding up to high (RES001)"]
    # Nothing on the security axis: no finding, no failed stage; only the probe is missing.
    assert axes["security"]["level"] == "silver"
    assert axes["security"]["reasons"] == [
        "not gold: no passing dynamic evidence (probe checks, or tests with coverage and approval)"
    ]
    release = stages["release"]
    assert release["summary"] == "release blocked (1 reason); readiness none"


def test_the_former_stage_name_security_still_selects_the_scan_stage(tmp_path: Path) -> None:
    project = _project(tmp_path, "[gate.stage.security]\nfail-on = 'critical'\n")
    report = _json(project, "--stages", "security", code=0)
    scan = next(stage for stage in report["stages"] if stage["id"] == "scan")
    # The [gate.stage.security] table applies to the scan stage: RES001 (high) does not block.
    assert (scan["status"], scan["summary"]) == ("pass", "1 scan finding, none blocking")
    assert "security" not in {stage["id"] for stage in report["stages"]}


def test_the_old_and_the_new_name_of_one_stage_cannot_both_be_configured(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path, "[gate.stage.security]\n[gate.stage.scan]\n")
    done = _gate(project)
    assert done.returncode == 2
    config = project / "prodready.toml"
    assert done.stderr == (
        f"prodready: error: {config}: gate.stage.security: the stage is now called 'scan' and "
        "is configured under both names; keep one\n"
    )


def test_stages_that_were_not_selected_are_listed_as_such(tmp_path: Path) -> None:
    done = _gate(_project(tmp_path), "--stages", "scan", "--no-color")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("| Stage "))
    end = next(index for index in range(start, len(lines)) if lines[index].startswith("+-"))
    cells = [line.split("|") for line in lines[start + 2 : end]]
    rows = {cell[1].strip(): cell[3].strip() for cell in cells if cell[1].strip()}
    assert rows == {
        "lint": "not selected",
        "scan": "required",
        "dependencies": "not selected",
        "unit": "not selected",
        "integration": "not selected",
        "performance": "not selected",
        "sandbox": "not selected",
        "approval": "not selected",
        "release": "required",
    }
    project = tmp_path / "project"
    markdown = _gate(project, "--stages", "scan", "--format", "markdown")
    assert "| \u23ed\ufe0f skip | `lint` | not selected | - |" in markdown.stdout


def test_the_sandbox_stage_reports_the_time_of_its_own_checks(tmp_path: Path) -> None:
    """The performance stage ran the probe; the sandbox stage reads the same run."""
    checks = [
        CheckResult("readiness", Status.PASS, "ok", duration_s=1.25),
        CheckResult("liveness", Status.PASS, "ok", duration_s=0.5),
        CheckResult("load-latency", Status.PASS, "ok", duration_s=20.0),
    ]
    ctx = StageContext(
        project=tmp_path,
        run_dir=tmp_path,
        settings=GateSettings(),
        provenance=Provenance(base=None),
        probe_report=ProbeReport(
            target=ProbeTarget(command="svc", base_url="http://127.0.0.1:1", port=1),
            checks=checks,
            duration_s=25.0,
        ),
    )
    sandbox = probe.sandbox(ctx)
    assert sandbox.status is StageStatus.PASS
    assert sandbox.duration_s == 1.75
    assert sandbox.summary == (
        "2 probe checks passed, 0 skipped (checks of the probe run started by the performance "
        "stage)"
    )


def test_an_advisory_stage_that_could_not_run_does_not_sink_its_axis(tmp_path: Path) -> None:
    """`prodready init` makes lint advisory when ruff is missing: its error is no failure."""
    config = (
        '[gate.stage.lint]\nrequired = false\ncommand = "no-such-linter-xyz ."\n'
        "[gate.stage.scan]\nrequired = false\n"
    )
    report = _json(_project(tmp_path, config), "--stages", "lint,scan", code=0)
    stages = {stage["id"]: stage for stage in report["stages"]}
    assert (stages["lint"]["status"], stages["lint"]["required"]) == ("error", False)
    axes = {axis["axis"]: axis for axis in report["readiness"]["axes"]}
    assert axes["change-management"]["level"] == "silver"
    assert axes["change-management"]["reasons"] == [
        "not gold: no passing dynamic evidence (probe checks, or tests with coverage and approval)"
    ]
