"""``lint``: Ruff, read through its JSON output.

Most lint rules are style (low); the few that are bugs at run time - syntax errors, undefined
names, ``return`` outside a function - are high, and Bandit-derived ``S`` rules are medium.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from prodready.gate.model import GateFinding, StageResult
from prodready.gate.stages.base import StageContext, judge_findings, timed_out, tool_error
from prodready.gate.tools import module_missing, run_tool, split_command
from prodready.model import Severity

_BUGS = ("E9", "F63", "F7", "F82")


def _severity(code: str) -> Severity:
    if code.startswith(_BUGS):
        return Severity.HIGH
    if code.startswith("S"):
        return Severity.MEDIUM
    return Severity.LOW


def lint(ctx: StageContext) -> StageResult:
    settings = ctx.stage("lint")
    if settings.command:
        argv = split_command(settings.command, "gate.stage.lint.command")
    else:
        argv = [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--output-format",
            "json",
            "--exit-zero",
            ".",
        ]
    run = run_tool(
        argv, cwd=ctx.project, timeout=settings.timeout_s, run_dir=ctx.run_dir, name="lint"
    )
    if run.missing and settings.command:
        return tool_error(
            "lint", settings.required, f"{argv[0]} was not found (gate.stage.lint.command)"
        )
    if run.missing or module_missing(run, "ruff"):
        return tool_error("lint", settings.required, "ruff is not installed: pip install ruff")
    if run.timed_out:
        return tool_error("lint", settings.required, timed_out("lint", settings.timeout_s))
    try:
        records: Any = json.loads(run.stdout or "[]")
    except ValueError:
        if run.returncode == 0:
            result = judge_findings(ctx, "lint", [], {}, "lint")
            result.summary = "the lint command passed (no JSON output to read findings from)"
            return result
        return tool_error("lint", settings.required, f"the lint command failed:\n{run.tail()}")
    if not isinstance(records, list):
        return tool_error("lint", settings.required, "ruff's JSON output is not a list")
    findings = []
    root = ctx.project.resolve()
    for record in records:
        if not isinstance(record, dict):
            continue
        code = str(record.get("code") or "E999")
        location = record.get("location") or {}
        filename = str(record.get("filename", ""))
        try:
            path = Path(filename).resolve().relative_to(root).as_posix()
        except ValueError:
            path = filename
        fix = record.get("fix") or {}
        findings.append(
            GateFinding(
                stage="lint",
                rule=code,
                severity=_severity(code),
                category="lint",
                path=path,
                line=int(location.get("row", 1)),
                column=int(location.get("column", 1)),
                message=str(record.get("message", "")),
                fix=fix.get("message") if isinstance(fix, dict) else None,
                axis="change-management",
            )
        )
    return judge_findings(ctx, "lint", findings, {"tool": "ruff"}, "lint")
