"""``scan`` and ``dependencies``: prodready's own analyses, run in-process."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prodready.gate.model import GateFinding, StageResult
from prodready.gate.readiness import axis_of
from prodready.gate.stages.base import StageContext, judge_findings
from prodready.model import Config, RuleMeta, ScanResult


def _config(ctx: StageContext) -> Config:
    from prodready.config import find_config, load_config, read_table

    # The gate's own configuration file governs the scan too: with --config taken from the
    # base branch, a pull request cannot switch rules off in its own prodready.toml.
    source = Path(ctx.settings.source) if ctx.settings.source else None
    if source is not None and read_table(source):
        return load_config(source)
    return load_config(find_config(ctx.project))


def _scan(ctx: StageContext, config: Config) -> ScanResult:
    from prodready.catalog import default_registry
    from prodready.engine.runner import ScanOptions, scan

    options = ScanOptions(targets=[ctx.project], root=ctx.project, use_cache=True)
    return scan(options, config, default_registry(untrusted_roots=[str(ctx.project)]))


def _findings(stage: str, result: ScanResult) -> list[GateFinding]:
    return [
        GateFinding.from_finding(stage, finding, axis_of(finding.category.value))
        for finding in result.findings
    ]


def _ran(result: ScanResult) -> dict[str, RuleMeta]:
    return {code: rule.meta for code, rule in result.rules.items()}


def scan(ctx: StageContext) -> StageResult:
    config = _config(ctx)
    # Every category except dependencies, which has its own stage (and may use the network).
    config = replace(config, ignore=(*config.ignore, "dependencies"))
    result = _scan(ctx, config)
    figures = {"files": result.files, "errors": len(result.errors)}
    judged = judge_findings(ctx, "scan", _findings("scan", result), figures, "scan")
    judged.rules = _ran(result)
    return judged


def dependencies(ctx: StageContext) -> StageResult:
    config = _config(ctx)
    stage = ctx.stage("dependencies")
    config = replace(
        config,
        select=("dependencies",),
        deps=replace(config.deps, online=not stage.offline),
    )
    result = _scan(ctx, config)
    figures: dict[str, object] = {"notes": len(result.notes)}
    judged = judge_findings(
        ctx, "dependencies", _findings("dependencies", result), figures, "dependency"
    )
    judged.rules = _ran(result)
    if result.notes:
        judged.figures["first_note"] = result.notes[0]
    return judged
