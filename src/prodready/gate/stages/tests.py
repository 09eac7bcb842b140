"""``unit`` and ``integration``: the project's tests, read through JUnit XML (and coverage JSON
when pytest-cov is installed and a minimum is configured)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from prodready.gate.model import StageResult, StageStatus
from prodready.gate.stages.base import StageContext, timed_out, tool_error
from prodready.gate.tools import module_missing, run_tool, split_command


def _junit_counts(path: Path) -> dict[str, int] | None:
    try:
        root = ElementTree.parse(path).getroot()  # noqa: S314 - written by the test run just now
    except (OSError, ElementTree.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for key in counts:
            counts[key] += int(suite.get(key, "0") or 0)
    return counts


def _failed_cases(path: Path, limit: int = 5) -> list[str]:
    try:
        root = ElementTree.parse(path).getroot()  # noqa: S314 - written by the test run just now
    except (OSError, ElementTree.ParseError):
        return []
    failed = []
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{case.get('classname', '')}::{case.get('name', '')}".strip(":"))
            if len(failed) >= limit:
                break
    return failed


def _run_tests(ctx: StageContext, stage_id: str, default: list[str] | None) -> StageResult:
    settings = ctx.stage(stage_id)
    junit = ctx.run_dir / f"{stage_id}.junit.xml"
    coverage_file = ctx.run_dir / f"{stage_id}.coverage.json"
    if settings.command:
        argv = split_command(settings.command, f"gate.stage.{stage_id}.command")
    elif default is not None:
        argv = list(default)
    else:
        return tool_error(stage_id, settings.required, f"gate.stage.{stage_id}.command is not set")
    is_pytest = any("pytest" in word for word in argv[:3])
    if is_pytest:
        argv.append(f"--junitxml={junit}")
        if settings.coverage is not None:
            if importlib.util.find_spec("pytest_cov") is None:
                return tool_error(
                    stage_id,
                    settings.required,
                    f"a coverage minimum ({settings.coverage:g}%) is set but pytest-cov is not "
                    "installed: pip install pytest-cov",
                )
            argv += ["--cov", f"--cov-report=json:{coverage_file}"]
    run = run_tool(
        argv, cwd=ctx.project, timeout=settings.timeout_s, run_dir=ctx.run_dir, name=stage_id
    )
    if run.missing or module_missing(run, "pytest"):
        return tool_error(
            stage_id, settings.required, f"{argv[0]} is not installed (pip install pytest)"
        )
    if run.timed_out:
        return tool_error(stage_id, settings.required, timed_out(stage_id, settings.timeout_s))
    figures: dict[str, Any] = {"exit_code": run.returncode}
    counts = _junit_counts(junit) if is_pytest else None
    if counts is not None:
        figures.update(counts)
        figures["failed"] = counts["failures"] + counts["errors"]
    result = StageResult(
        stage_id, StageStatus.PASS, "", required=settings.required, figures=figures, command=argv
    )
    result.artifacts = [
        name
        for name in (run.stdout_file, run.stderr_file, junit.name)
        if (ctx.run_dir / name).exists()
    ]
    if is_pytest and run.returncode == 5:
        result.status = StageStatus.FAIL
        result.summary = "no tests were collected"
        return result
    if is_pytest and run.returncode in (3, 4):
        # Internal or usage error: e.g. the test directory does not exist.
        result.status = StageStatus.FAIL
        last = run.tail(1) or f"exit code {run.returncode}"
        result.summary = f"pytest could not run the tests: {last}"
        return result
    if run.returncode != 0:
        result.status = StageStatus.FAIL
        failed = _failed_cases(junit) if is_pytest else []
        if counts is not None:
            result.summary = f"{figures['failed']} of {counts['tests']} tests failed"
        else:
            result.summary = f"the test command exited {run.returncode}"
        if failed:
            result.figures["failing"] = failed
            result.summary += f" ({', '.join(failed[:2])})"
        return result
    if settings.coverage is not None:
        covered = _coverage(coverage_file)
        figures["coverage"] = covered
        if covered is None:
            result.status = StageStatus.ERROR
            result.summary = "coverage was requested but no coverage report was written"
            return result
        if covered < settings.coverage:
            result.status = StageStatus.FAIL
            result.summary = (
                f"line coverage {covered:.1f}% is below the minimum {settings.coverage:g}%"
            )
            return result
    tests = f"{counts['tests']} tests passed" if counts else "the test command passed"
    coverage = f", coverage {figures['coverage']:.1f}%" if "coverage" in figures else ""
    result.summary = tests + coverage
    return result


def _coverage(path: Path) -> float | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return float(data["totals"]["percent_covered"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def unit(ctx: StageContext) -> StageResult:
    return _run_tests(ctx, "unit", [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"])


def integration(ctx: StageContext) -> StageResult:
    return _run_tests(ctx, "integration", None)
