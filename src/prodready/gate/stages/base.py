"""What every stage works with, and the judgement shared by all finding stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodready.gate.model import GateFinding, Provenance, StageResult, StageStatus
from prodready.gate.settings import GateSettings, StageSettings
from prodready.model import Severity

if TYPE_CHECKING:
    from prodready.probe.model import ProbeReport


@dataclass
class StageContext:
    project: Path
    run_dir: Path
    settings: GateSettings
    provenance: Provenance
    probe_report: ProbeReport | None = None
    results: dict[str, StageResult] = field(default_factory=dict)

    def stage(self, stage_id: str) -> StageSettings:
        return self.settings.stage(stage_id)

    def threshold(self, finding: GateFinding, stage: StageSettings) -> Severity:
        """The severity at which a finding blocks: stricter on AI-assisted lines."""
        human = stage.fail_on or self.settings.policy.fail_on
        if finding.ai_assisted:
            return min(human, self.settings.ai_policy.fail_on)
        return human


def judge_findings(
    ctx: StageContext,
    stage_id: str,
    findings: list[GateFinding],
    figures: dict[str, Any],
    label: str,
) -> StageResult:
    """Mark provenance, then fail the stage when a finding reaches its threshold."""
    from prodready.gate.provenance import mark

    mark(findings, ctx.provenance)
    settings = ctx.stage(stage_id)
    blocking = [f for f in findings if f.severity >= ctx.threshold(f, settings)]
    ai_blocking = [f for f in blocking if f.ai_assisted]
    by_severity: dict[str, int] = {}
    for finding in findings:
        by_severity[finding.severity.value] = by_severity.get(finding.severity.value, 0) + 1
    figures.update(
        findings=len(findings),
        blocking=len(blocking),
        ai_assisted=sum(1 for f in findings if f.ai_assisted),
        **by_severity,
    )
    result = StageResult(
        stage_id,
        StageStatus.FAIL if blocking else StageStatus.PASS,
        "",
        required=settings.required,
        figures=figures,
        findings=findings,
        ai_assisted=any(f.ai_assisted for f in findings),
    )
    if blocking:
        worst = max(blocking, key=lambda f: f.severity)
        stricter = f" ({len(ai_blocking)} on AI-assisted lines, held to the stricter policy)"
        result.summary = (
            f"{len(blocking)} blocking {label} {_noun(len(blocking))}"
            f"{stricter if ai_blocking else ''}; "
            f"worst: {worst.rule} {worst.severity.value} at {worst.path}:{worst.line}"
        )
    else:
        result.summary = f"{len(findings)} {label} {_noun(len(findings))}, none blocking"
    return result


def _noun(count: int) -> str:
    return "finding" if count == 1 else "findings"


def tool_error(stage_id: str, required: bool, message: str, **figures: Any) -> StageResult:
    return StageResult(stage_id, StageStatus.ERROR, message, required=required, figures=figures)


def timed_out(stage_id: str, seconds: float) -> str:
    return (
        f"timed out after {seconds:g} s (gate.stage.{stage_id}.timeout); its processes were killed"
    )
