"""Running the project rules once per scan, and turning what they report into findings.

:mod:`prodready.engine.project` holds what the rules see (the facts, the context); this module is
the engine's side: it calls each rule, keeps a crashing rule from losing the others, builds the
findings of the reports, and reuses the results of an earlier scan whose inputs were the same
(:mod:`prodready.engine.project_results`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prodready.engine.findings import SourceText, build_findings, line_extent
from prodready.engine.function_roles import ARTIFACT as FUNCTION_ROLES
from prodready.engine.function_roles import function_role_spans
from prodready.engine.location import RawFinding
from prodready.engine.project import ProjectContext, ProjectFacts, _Report
from prodready.engine.project_results import ProjectInputs, ProjectOutcome, load, recording, save
from prodready.model import Config, Finding, Rule, ScanError


def project_outcome(
    rules: list[Rule],
    project: Callable[[], ProjectFacts],
    config: Config,
    cache_dir: Path | None,
    inputs: ProjectInputs | None,
    trusted_before_ns: int,
) -> ProjectOutcome:
    """The outcome of the project rules: stored by an earlier scan with the same inputs, or
    computed (and stored). ``inputs``: None without the result cache -- nothing is reused.
    ``project`` builds the facts the rules read: only called when they run."""
    key = inputs.key(trusted_before_ns) if inputs is not None and inputs.reusable() else None
    if inputs is not None and key is not None:
        stored = load(inputs, key, trusted_before_ns)
        if stored is not None:
            return stored
    result_cache = inputs is not None
    facts = project()
    if inputs is None or key is None:  # nothing will be stored: nothing to record
        findings, errors, ctx = run_project_rules(
            rules, facts, config, cache_dir, result_cache=result_cache
        )
        return ProjectOutcome(findings, errors, ctx.artifacts, ctx.notes)
    with recording(trusted_before_ns) as consulted:
        findings, errors, ctx = run_project_rules(
            rules, facts, config, cache_dir, result_cache=result_cache
        )
    outcome = ProjectOutcome(findings, errors, ctx.artifacts, ctx.notes)
    if not errors:  # a crashed rule is a bug to be seen again, not a result to keep
        save(inputs, key, consulted, outcome)
    return outcome


def run_project_rules(
    rules: list[Rule],
    facts: ProjectFacts,
    config: Config,
    cache_dir: Path | None = None,
    *,
    result_cache: bool = False,
) -> tuple[list[Finding], list[ScanError], ProjectContext]:
    ctx = ProjectContext(facts, config, cache_dir, result_cache=result_cache)
    errors: list[ScanError] = []
    for rule in rules:
        ctx.rule = rule
        try:
            rule.check(facts, ctx)
        except Exception as exc:  # noqa: BLE001 - a broken rule must not lose the rest
            errors.append(ScanError("<project>", f"internal error in rule {rule.code}: {exc!r}"))
    try:  # the engine's own fact, stored with the outcome: which functions run as commands
        ctx.artifacts[FUNCTION_ROLES] = function_role_spans(facts)
    except Exception as exc:  # noqa: BLE001 - findings keep their files' roles
        errors.append(ScanError("<project>", f"internal error in function roles: {exc!r}"))
    if facts.report_prefix:
        for key, value in ctx.artifacts.items():
            ctx.artifacts[key] = _prefixed_paths(value, facts.report_prefix)
    return _findings(ctx.reports, facts.root, facts.report_prefix), errors, ctx


def _prefixed_paths(value: Any, prefix: str) -> Any:
    """A published artifact (plain JSON data) with every ``path`` named from the report root,
    as findings are."""
    if isinstance(value, list):
        return [_prefixed_paths(item, prefix) for item in value]
    if isinstance(value, dict):
        return {
            key: prefix + item
            if key == "path" and isinstance(item, str)
            else _prefixed_paths(item, prefix)
            for key, item in value.items()
        }
    return value


def _findings(reports: list[_Report], root: Path, prefix: str = "") -> list[Finding]:
    """The findings of the reports, through the same factory as those of file rules. Each
    report points at its line's non-blank extent; each file is read, and its suppressions
    found, once."""
    texts: dict[str, SourceText] = {}
    kept: dict[str, list[RawFinding]] = {}  # by file, each in the order reported
    for report in reports:
        text = texts.get(report.path)
        if text is None:
            lines = _read_lines(root / report.path)
            text = texts[report.path] = SourceText(lines, report.path.endswith(".py"))
        if text.suppressed(report.rule, report.line, report.line):
            continue
        location = line_extent(text.lines, report.line)
        kept.setdefault(report.path, []).append(
            RawFinding(
                report.rule,
                location,
                report.message,
                report.fix,
                report.severity,
                report.confidence,
            )
        )
    findings: list[Finding] = []
    for path, raw in kept.items():
        findings.extend(build_findings(raw, texts[path].lines, prefix + path))
    return findings


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
