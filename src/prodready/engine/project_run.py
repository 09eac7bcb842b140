"""Running the project rules once per scan, and turning what they report into findings.

:mod:`prodready.engine.project` holds what the rules see (the facts, the context); this module is
the engine's side: it calls each rule, keeps a crashing rule from losing the others, and builds
the findings of the reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prodready.engine.project import ProjectContext, ProjectFacts, _Report
from prodready.engine.records import fingerprint
from prodready.engine.secrets import redact
from prodready.engine.suppress import (
    Suppression,
    find_suppressions,
    python_comments,
    suppression_for,
)
from prodready.model import Config, Finding, Rule, ScanError


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
    lines_of: dict[str, list[str]] = {}
    findings: list[Finding] = []
    seen: dict[tuple[str, str, str], int] = {}
    suppressions_of: dict[str, dict[int, Suppression]] = {}
    for report in reports:
        lines = lines_of.get(report.path)
        if lines is None:
            lines = lines_of[report.path] = _read_lines(root / report.path)
        text = lines[report.line - 1] if report.line <= len(lines) else ""
        if report.path not in suppressions_of:  # once per file: reports per file can be many
            suppressions_of[report.path] = _suppressions(lines, report.path)
        if _suppressed(suppressions_of[report.path], report):
            continue
        shown = redact(text)  # a credential on the line is shown masked, as for file rules
        normalised = " ".join(shown.split())
        key = (report.rule.code, report.path, normalised)
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        stripped = text.strip()
        column = len(text) - len(text.lstrip()) + 1
        findings.append(
            Finding(
                rule=report.rule.code,
                name=report.rule.name,
                category=report.rule.category,
                severity=report.severity or report.rule.severity,
                confidence=report.confidence or report.rule.confidence,
                path=prefix + report.path,
                line=report.line,
                column=column if stripped else 1,
                end_line=report.line,
                end_column=len(text.rstrip()) + 1 if stripped else 1,
                message=report.message,
                fingerprint=fingerprint(
                    report.rule.code, prefix + report.path, normalised, occurrence
                ),
                cwe=report.rule.cwe,
                fix=report.fix or report.rule.fix,
                docs=report.rule.docs_url,
                snippet=shown.strip()[:240],
            )
        )
    return findings


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _suppressions(lines: list[str], path: str) -> dict[int, Suppression]:
    if not any("prodready" in line for line in lines):
        return {}
    comments = python_comments("\n".join(lines)) if path.endswith(".py") else None
    return find_suppressions(lines, comments)


def _suppressed(suppressions: dict[int, Suppression], report: _Report) -> bool:
    rule = report.rule
    return suppression_for(suppressions, rule.code, rule.name, report.line, report.line) is not None
