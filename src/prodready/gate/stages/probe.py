"""``performance`` and ``sandbox``: prodready probe against the running service.

The probe runs once per gate run: the performance stage reads its load checks (latency, memory
growth, rate limiting against the SLO), the sandbox stage every other check. Each stage reports
the time of its own checks; the stage that ran the probe also carries the run's set-up (start,
API discovery, stop), so the two durations add up to the probe run.
"""

from __future__ import annotations

from pathlib import Path

from prodready.gate.model import StageResult, StageStatus
from prodready.gate.stages.base import StageContext, tool_error
from prodready.probe.model import CheckResult, ProbeError, ProbeReport, Status

LOAD_CHECKS = ("load-latency", "memory-growth", "rate-limit")


def _probe(ctx: StageContext) -> ProbeReport:
    if ctx.probe_report is not None:
        return ctx.probe_report
    from dataclasses import replace

    from prodready.probe.runner import run_probe
    from prodready.probe.settings import load_settings

    config = ctx.settings.source
    settings = load_settings(None if config is None else Path(config), ctx.project)
    if not settings.cmd:
        where = f" of {settings.source}" if settings.source else " of prodready.toml"
        raise ProbeError(f"the probe has no command: set cmd under [{settings.table()}]{where}")
    wanted = [] if ctx.stage("sandbox").enabled else list(LOAD_CHECKS)
    settings = replace(settings, only=tuple(wanted) or settings.only)
    ctx.probe_report = run_probe(settings, project_dir=ctx.project, artifacts=ctx.run_dir / "probe")
    return ctx.probe_report


def _stage(ctx: StageContext, stage_id: str, ids: tuple[str, ...] | None) -> StageResult:
    settings = ctx.stage(stage_id)
    ran_here = ctx.probe_report is None
    try:
        report = _probe(ctx)
    except ProbeError as exc:
        return tool_error(stage_id, settings.required, f"the probe could not run: {exc}")
    checks = [c for c in report.checks if (c.id in ids if ids else c.id not in LOAD_CHECKS)]
    failed = [c for c in checks if c.status is Status.FAIL]
    figures = {
        "checks": len(checks),
        "passed": sum(1 for c in checks if c.status is Status.PASS),
        "failed": len(failed),
        "skipped": sum(1 for c in checks if c.status is Status.SKIP),
    }
    for check in checks:
        if check.id == "load-latency":
            figures.update(
                {
                    k: check.evidence[k]
                    for k in ("p95_ms", "p99_ms", "error_rate")
                    if k in check.evidence
                }
            )
    result = StageResult(
        stage_id,
        StageStatus.FAIL if failed else StageStatus.PASS,
        "",
        required=settings.required,
        figures=figures,
    )
    if failed:
        result.summary = "; ".join(f"{c.id}: {c.reason}" for c in failed[:3])
    else:
        result.summary = f"{figures['passed']} probe checks passed, {figures['skipped']} skipped"
    if not checks:
        result.status = StageStatus.SKIP
        result.summary = "no probe checks selected for this stage"
    result.duration_s = sum(check.duration_s for check in checks)
    if ran_here:
        setup = report.duration_s - sum(check.duration_s for check in report.checks)
        result.duration_s += max(0.0, setup)
    elif checks:
        other = "performance" if stage_id == "sandbox" else "sandbox"
        result.summary += f" (checks of the probe run started by the {other} stage)"
    # "skipped=2" alone leaves the reader guessing why: one line per reason, under the stage.
    result.details = skip_reasons([c for c in checks if c.status is Status.SKIP])
    return result


_REASON_CHARS = 160


def skip_reasons(skipped: list[CheckResult]) -> list[str]:
    """``load-latency, memory-growth skipped: no request the service answers with 2xx: ...``:
    one line per reason, the checks skipped for the same reason sharing it."""
    by_reason: dict[str, list[str]] = {}
    for check in skipped:
        by_reason.setdefault(_short(check.reason), []).append(check.id)
    return [f"{', '.join(ids)} skipped: {reason}" for reason, ids in by_reason.items()]


def _short(reason: str) -> str:
    """The reason's first line, cut at a word boundary to :data:`_REASON_CHARS`."""
    first = (reason.strip().splitlines() or ["no reason given"])[0]
    if len(first) <= _REASON_CHARS:
        return first
    cut = first[: _REASON_CHARS - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "\u2026"


def performance(ctx: StageContext) -> StageResult:
    return _stage(ctx, "performance", LOAD_CHECKS)


def sandbox(ctx: StageContext) -> StageResult:
    return _stage(ctx, "sandbox", None)
