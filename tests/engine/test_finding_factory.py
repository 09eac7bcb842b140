"""One finding factory (issue 11): rules of one file and rules of the whole project build their
findings the same way -- span, fingerprint, masking, suppressions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prodready.engine.findings import SourceText, build_findings, line_extent
from prodready.engine.location import Location, RawFinding
from prodready.engine.project import ProjectContext, ProjectFacts
from prodready.engine.project_run import run_project_rules
from prodready.engine.records import fingerprint
from prodready.model import Category, Config, FileKind, Rule, Severity

KEY = "AKIAIOSFODNN7EXAMPLE"
MASKED = "AKIA***(20 chars)"


def _rule(check: Any) -> Rule:
    return Rule(
        code="TST900",
        name="test-project-rule",
        category=Category.SECURITY,
        severity=Severity.LOW,
        summary="a project rule for the factory tests",
        docs="",
        check=check,
        kind=FileKind.PROJECT,
    )


def test_line_extent_is_the_non_blank_part_of_the_line() -> None:
    lines = ["    x = 1  ", "   ", "y"]
    assert line_extent(lines, 1) == Location(1, 5, 1, 10)
    assert line_extent(lines, 2) == Location(2, 1, 2, 1)
    assert line_extent(lines, 3) == Location(3, 1, 3, 2)
    assert line_extent(lines, 9) == Location(9, 1, 9, 1)


def test_a_project_report_is_fingerprinted_by_its_line_text(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("flask\n\n  requests  # pinned\n", "utf-8")

    def check(facts: ProjectFacts, ctx: ProjectContext) -> None:
        ctx.report("requirements.txt", 3, "first")
        ctx.report("requirements.txt", 2, "blank line")
        ctx.report("requirements.txt", 3, "again")

    facts = ProjectFacts(tmp_path, {}, {"requirements.txt": FileKind.REQUIREMENTS})
    findings, errors, _ = run_project_rules([_rule(check)], facts, Config())
    assert errors == []
    located = [(f.line, f.column, f.end_line, f.end_column, f.snippet) for f in findings]
    assert located == [
        (3, 3, 3, 21, "requests  # pinned"),
        (2, 1, 2, 1, ""),
        (3, 3, 3, 21, "requests  # pinned"),
    ]
    assert [f.fingerprint for f in findings] == [
        fingerprint("TST900", "requirements.txt", "requests # pinned", 0),
        fingerprint("TST900", "requirements.txt", "", 0),
        fingerprint("TST900", "requirements.txt", "requests # pinned", 1),
    ]


def test_a_project_finding_masks_a_credential_in_every_field(tmp_path: Path) -> None:
    """Before the factory, a project rule's message and fix were shown as the rule wrote them,
    credentials included; now every field is masked as for rules of one file."""
    (tmp_path / "settings.py").write_text(f'KEY = "{KEY}"\n', "utf-8")

    def check(facts: ProjectFacts, ctx: ProjectContext) -> None:
        ctx.report("settings.py", 1, f"key {KEY} is committed", fix=f"rotate {KEY}")

    facts = ProjectFacts(tmp_path, {}, {})
    findings, _, _ = run_project_rules([_rule(check)], facts, Config())
    [finding] = findings
    assert finding.message == f"key {MASKED} is committed"
    assert finding.fix == f"rotate {MASKED}"
    assert finding.snippet == f'KEY = "{MASKED}"'
    assert finding.fingerprint == fingerprint("TST900", "settings.py", f'KEY = "{MASKED}"', 0)


def test_project_reports_honour_suppressions_in_comments_only(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "app = Flask(__name__)  # prodready: ignore[TST900] reviewed\n"
        'text = "# prodready: ignore"\n',
        "utf-8",
    )

    def check(facts: ProjectFacts, ctx: ProjectContext) -> None:
        ctx.report("app.py", 1, "suppressed")
        ctx.report("app.py", 2, "a suppression inside a string does not count")

    facts = ProjectFacts(tmp_path, {}, {})
    findings, _, _ = run_project_rules([_rule(check)], facts, Config())
    assert [(f.line, f.message) for f in findings] == [
        (2, "a suppression inside a string does not count")
    ]


def test_suppressions_of_a_file_are_found_once() -> None:
    text = SourceText(["x = 1  # prodready: ignore[TST900] reviewed"], python=True)
    first = text.suppressions()
    assert text.suppressions() is first
    rule = _rule(lambda *_: None)
    assert text.suppressed(rule, 1, 1)
    assert first[1].used == {"TST900"}


def test_file_and_project_findings_agree_on_the_same_span() -> None:
    lines = ["", "    call(token)   "]
    rule = _rule(lambda *_: None)
    raw = [RawFinding(rule, line_extent(lines, 2), "m", None, None, None)]
    [finding] = build_findings(raw, lines, "app.py")
    assert (finding.column, finding.end_column) == (5, 16)
    assert finding.fingerprint == fingerprint("TST900", "app.py", "call(token)", 0)
