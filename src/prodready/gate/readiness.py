"""Production-readiness levels: findings and stage results mapped to the review axes SRE teams
use, rolled up into Bronze / Silver / Gold per axis and overall.

Criteria (configurable under ``[tool.prodready.gate.levels]``): **Bronze** - no finding on the
axis worse than ``medium`` and no failed stage feeding it; **Silver** - nothing worse than
``low``; **Gold** - Silver plus passing dynamic evidence for the axis (the probe's checks for it,
or for change management: unit tests with coverage and a recorded approval).
"""

from __future__ import annotations

from prodready.gate.model import (
    AXES,
    LEVELS,
    AxisLevel,
    GateFinding,
    StageResult,
    StageStatus,
    plural,
)
from prodready.gate.settings import GateSettings, LevelCriteria
from prodready.probe.model import ProbeReport, Status

CATEGORY_AXIS: dict[str, str] = {
    "security": "security",
    "resilience": "architecture",
    "dependencies": "architecture",
    "data-access": "architecture",
    "api-contract": "architecture",
    "observability": "observability",
    "deployment": "emergency-response",
    "error-handling": "emergency-response",
    "performance": "capacity",
    "concurrency": "capacity",
    "state": "capacity",
    "configuration": "change-management",
    "lint": "change-management",
}
PROBE_AXIS: dict[str, str] = {
    "readiness": "emergency-response",
    "liveness": "emergency-response",
    "graceful-shutdown": "emergency-response",
    "request-id": "observability",
    "metrics": "observability",
    "structured-logs": "observability",
    "malformed-input": "security",
    "payload-limit": "security",
    "idempotency": "architecture",
    "concurrency": "architecture",
    "dependency-latency": "architecture",
    "dependency-outage": "architecture",
    "load-latency": "capacity",
    "memory-growth": "capacity",
    "rate-limit": "capacity",
}
# The axes a stage's failure counts against. A stage that fails through its findings (lint,
# scan, dependencies) counts only through them, each on its own category's axis: a timeout
# finding of the scan is an architecture problem, not a security one. When such a stage could
# not run at all, every axis it would have judged is missing its evidence.
FINDING_STAGES = frozenset({"lint", "scan", "dependencies"})
STAGE_AXES: dict[str, tuple[str, ...]] = {
    "lint": ("change-management",),
    "scan": tuple(dict.fromkeys(CATEGORY_AXIS.values())),
    "dependencies": ("architecture", "security"),
    "unit": ("change-management",),
    "integration": ("change-management",),
    "approval": ("change-management",),
    "performance": ("capacity",),
    "sandbox": (),  # judged per probe check instead
}


def axis_of(category: str) -> str:
    return CATEGORY_AXIS.get(category, "change-management")


def assess(
    stages: list[StageResult], probe: ProbeReport | None, settings: GateSettings
) -> tuple[list[AxisLevel], str]:
    findings: list[GateFinding] = [finding for stage in stages for finding in stage.findings]
    failed_stages: dict[str, list[str]] = {axis: [] for axis in AXES}
    evidence: dict[str, bool] = dict.fromkeys(AXES, False)
    for stage in stages:
        if stage.status is StageStatus.FAIL and stage.id in FINDING_STAGES and stage.findings:
            continue  # judged through its findings, on their own axes
        if stage.status is StageStatus.ERROR and not stage.required:
            # An advisory stage that could not run (its tool is not installed) gave no
            # evidence either way: it is not a failure of the axis.
            continue
        for axis in STAGE_AXES.get(stage.id, ()):
            if stage.status in (StageStatus.FAIL, StageStatus.ERROR):
                failed_stages[axis].append(f"stage {stage.id} {stage.status.value}")
    unit = next((s for s in stages if s.id == "unit"), None)
    approval = next((s for s in stages if s.id == "approval"), None)
    evidence["change-management"] = bool(
        unit
        and unit.status is StageStatus.PASS
        and unit.figures.get("coverage") is not None
        and approval
        and approval.status is StageStatus.PASS
    )
    if probe is not None:
        checks_by_axis: dict[str, list[Status]] = {axis: [] for axis in AXES}
        for check in probe.checks:
            check_axis = PROBE_AXIS.get(check.id)
            if check_axis is None:
                continue
            checks_by_axis[check_axis].append(check.status)
            if check.status is Status.FAIL:
                failed_stages[check_axis].append(f"probe check {check.id} failed")
        for axis, statuses in checks_by_axis.items():
            if axis != "change-management" and statuses and all(s is Status.PASS for s in statuses):
                evidence[axis] = True
    levels = []
    for axis in AXES:
        on_axis = [finding for finding in findings if finding.axis == axis]
        achieved, reasons = "none", []
        for level in LEVELS[1:]:
            missing = _missing(settings.levels[level], on_axis, failed_stages[axis], evidence[axis])
            if missing:
                reasons = [f"not {level}: {reason}" for reason in missing]
                break
            achieved = level
        levels.append(AxisLevel(axis, achieved, reasons))
    overall = min((level.level for level in levels), key=LEVELS.index, default="none")
    return levels, overall


def _missing(
    criteria: LevelCriteria, findings: list[GateFinding], failures: list[str], evidence: bool
) -> list[str]:
    reasons = list(failures)
    worse = [
        f for f in findings if criteria.max_severity is None or f.severity > criteria.max_severity
    ]
    if worse:
        worst = max(worse, key=lambda f: f.severity)
        reasons.append(
            f"{plural(len(worse), 'finding')} up to {worst.severity.value} ({worst.rule})"
        )
    if criteria.evidence and not evidence:
        reasons.append(
            "no passing dynamic evidence (probe checks, or tests with coverage and approval)"
        )
    return reasons
