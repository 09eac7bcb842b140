"""One gate run: provenance, the stages in order, readiness, and the release verdict.

Every run keeps its artifacts (tool output, JUnit XML, probe logs, the JSON report) under
``.prodready/runs/<id>/`` so a failed stage can be diagnosed afterwards.
"""

from __future__ import annotations

import json
import secrets
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from prodready import __version__
from prodready.gate.model import (
    DISABLED,
    NOT_SELECTED,
    STAGES,
    GateError,
    GateReport,
    Provenance,
    StageResult,
    StageStatus,
    canonical_stage,
    plural,
)
from prodready.gate.settings import GateSettings
from prodready.gate.stages.base import StageContext

Progress = Callable[[str], None]


def _run_dir(project: Path, settings: GateSettings) -> tuple[str, Path]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id = f"{stamp}-{secrets.token_hex(3)}"
    runs = project / settings.artifacts
    try:
        (runs / run_id).mkdir(parents=True, exist_ok=False)
        ignore = runs / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# prodready gate artifacts\n*\n", encoding="utf-8")
    except OSError as exc:
        raise GateError(
            f"cannot create the artifacts directory {runs}: {exc.strerror or exc}"
        ) from exc
    return run_id, runs / run_id


def _provenance(project: Path, settings: GateSettings, base: str | None) -> Provenance:
    from prodready.gate.provenance import collect_provenance, default_base

    chosen = base or settings.base or default_base(project)
    return collect_provenance(project, chosen, patterns=settings.assistant_patterns)


def run_gate(
    project: Path,
    settings: GateSettings,
    *,
    base: str | None = None,
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
    keep_going: bool | None = None,
    progress: Progress | None = None,
) -> GateReport:
    say = progress or (lambda message: None)
    for name in (*only, *skip):
        if canonical_stage(name) not in STAGES:
            raise GateError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    only = [canonical_stage(name) for name in only]
    skip = [canonical_stage(name) for name in skip]
    started = time.monotonic()
    run_id, run_dir = _run_dir(project, settings)
    provenance = _provenance(project, settings, base)
    report = GateReport(
        run_id=run_id,
        run_dir=str(run_dir),
        provenance=provenance,
        policy=settings.policy_record(),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    if provenance.ai_assisted:
        assistants = sorted({c.assistant or "?" for c in provenance.commits if c.ai_assisted})
        say(f"AI-assisted commits in the change ({', '.join(assistants)}): stricter policy applies")
    ctx = StageContext(project=project, run_dir=run_dir, settings=settings, provenance=provenance)
    going_on = settings.keep_going if keep_going is None else keep_going
    stopped_by: str | None = None
    for stage_id in STAGES:
        if stage_id == "release":
            break
        result = _run_stage(ctx, stage_id, only, skip, stopped_by, say)
        ctx.results[stage_id] = result
        report.stages.append(result)
        if result.blocking and not going_on and stopped_by is None:
            stopped_by = stage_id
    _release(ctx, report)
    report.duration_s = time.monotonic() - started
    (run_dir / "report.json").write_text(
        json.dumps(report.to_dict(__version__), indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return report


def _run_stage(
    ctx: StageContext,
    stage_id: str,
    only: Sequence[str],
    skip: Sequence[str],
    stopped_by: str | None,
    say: Progress,
) -> StageResult:
    from prodready.gate.stages import STAGE_FUNCTIONS

    settings = ctx.stage(stage_id)
    if (only and stage_id not in only) or stage_id in skip:
        return StageResult(stage_id, StageStatus.SKIP, NOT_SELECTED, required=settings.required)
    if not settings.enabled:
        return StageResult(stage_id, StageStatus.SKIP, DISABLED, required=settings.required)
    if stopped_by is not None:
        return StageResult(
            stage_id,
            StageStatus.SKIP,
            f"not reached: the required stage {stopped_by} failed (--keep-going runs all)",
            required=settings.required,
        )
    say(f"stage {stage_id}")
    began = time.monotonic()
    try:
        result = STAGE_FUNCTIONS[stage_id](ctx)
    except GateError as exc:
        result = StageResult(stage_id, StageStatus.ERROR, str(exc), required=settings.required)
    except Exception as exc:  # noqa: BLE001 - one broken stage must not lose the others' results
        (ctx.run_dir / f"{stage_id}.traceback.txt").write_text(traceback.format_exc())
        result = StageResult(
            stage_id,
            StageStatus.ERROR,
            f"the stage crashed ({type(exc).__name__}: {exc}); see {stage_id}.traceback.txt",
            required=settings.required,
        )
    if not result.duration_s:  # the probe stages share one run and time their own part
        result.duration_s = time.monotonic() - began
    say(f"stage {stage_id}: {result.status.value} - {result.summary}")
    return result


def _release(ctx: StageContext, report: GateReport) -> None:
    """The verdict: blocking stages, the AI policy's extra demands, and the readiness level."""
    from prodready.gate.provenance import tests_touched
    from prodready.gate.readiness import assess

    began = time.monotonic()
    reasons = [
        f"stage {stage.id} {stage.status.value}: {stage.summary}"
        for stage in report.stages
        if stage.blocking
    ]
    settings = ctx.settings
    provenance = ctx.provenance
    figures: dict[str, object] = {"ai_assisted": provenance.ai_assisted}
    if provenance.ai_assisted and settings.ai_policy.require_tests:
        modules, tested = tests_touched(provenance)
        figures["ai_changed_modules"] = modules
        figures["tests_changed"] = tested
        if modules and not tested:
            reasons.append(
                "the policy for AI-assisted changes requires tests: "
                f"{plural(len(modules), 'module')} changed by AI-assisted commits "
                f"({', '.join(modules[:3])}) and no test changed"
            )
    report.readiness, report.overall_level = assess(report.stages, ctx.probe_report, settings)
    figures["level"] = report.overall_level
    needed = settings.release_level
    from prodready.gate.model import LEVELS

    if LEVELS.index(report.overall_level) < LEVELS.index(needed):
        reasons.append(f"readiness is {report.overall_level}; the release needs {needed}")
    report.reasons = reasons
    verdict = (
        "release allowed" if not reasons else f"release blocked ({plural(len(reasons), 'reason')})"
    )
    report.stages.append(
        StageResult(
            "release",
            StageStatus.PASS if not reasons else StageStatus.FAIL,
            f"{verdict}; readiness {report.overall_level}",
            required=True,
            duration_s=time.monotonic() - began,
            figures=figures,
            ai_assisted=provenance.ai_assisted,
        )
    )
