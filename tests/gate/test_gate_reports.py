"""The gate's report formats (text, json, markdown, sarif, html), on hand-built reports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SARIF_SCHEMA
from html_audit import audit_html

from prodready import __version__
from prodready.catalog import default_registry
from prodready.gate.model import (
    AXES,
    STAGES,
    AxisLevel,
    Commit,
    GateFinding,
    GateReport,
    Provenance,
    StageResult,
    StageStatus,
)
from prodready.model import RuleMeta, Severity
from prodready.report import GATE_FORMATS, gate_renderer

TESTS = Path(__file__).resolve().parents[1]
SCHEMA = SARIF_SCHEMA
# How the report fixture's provenance reads in the text and Markdown summaries.
PROVENANCE = "3 commits, 2 AI-assisted (Claude, Copilot); 120 of 150 changed lines AI-written"
XSS = "<script>alert(1)</script>"
NON_ASCII = "na\u00efve caf\u00e9 \u2014 \u65e5\u672c\u8a9e \u2713"
ANSI = re.compile(r"\x1b\[")
GITHUB_ENV = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA")


def _findings() -> list[GateFinding]:
    return [
        GateFinding(
            stage="scan",
            rule="RES001",
            name="http-call-without-timeout",
            severity=Severity.HIGH,
            category="resilience",
            path="src/app/api.py",
            line=12,
            column=5,
            message=f"HTTP call without a timeout {XSS}",
            fix="pass timeout=(3.05, 27)",
            snippet="requests.get(url)  # a | b `tick`",
            fingerprint="abc123",
            axis="emergency-response",
            ai_assisted=True,
            commit="1111111111aaaa",
        ),
        GateFinding(
            stage="lint",
            rule="S101",
            name="assert",
            severity=Severity.LOW,
            category="lint",
            path="src/app/util.py",
            line=3,
            message="Use of `assert` detected | pipes | here",
            snippet=f"assert x, '{NON_ASCII}'",
            ai_assisted=False,
        ),
        GateFinding(
            stage="dependencies",
            rule="DEP001",
            name="",
            severity=Severity.CRITICAL,
            category="dependencies",
            path="requirements.txt",
            line=1,
            message=f"unpinned dependency\nsecond line {NON_ASCII}",
            fix=None,
            snippet="requests",
            fingerprint="def456",
            axis="architecture",
            ai_assisted=None,
        ),
        GateFinding(
            stage="scan",
            rule="ZZZ999",
            severity=Severity.MEDIUM,
            category="security",
            path="src/app/db.py",
            line=40,
            message="house rule the registry does not know",
            axis="security",
            ai_assisted=False,
        ),
    ]


def _ran(stage: str) -> dict[str, RuleMeta]:
    """The metadata a stage's result carries for the rules it ran (ZZZ999 is not among them)."""
    ran = {"scan": ("RES001",), "dependencies": ("DEP001",)}.get(stage, ())
    rules = default_registry(plugins=False).rules
    return {code: rules[code].meta for code in ran}


def _report(*, released: bool = False) -> GateReport:
    findings = _findings()
    by_stage: dict[str, list[GateFinding]] = {}
    for finding in findings:
        by_stage.setdefault(finding.stage, []).append(finding)
    statuses = {
        "lint": StageStatus.PASS,
        "scan": StageStatus.FAIL,
        "dependencies": StageStatus.FAIL,
        "unit": StageStatus.PASS,
        "integration": StageStatus.ERROR,
        "performance": StageStatus.PASS,
        "sandbox": StageStatus.SKIP,
        "approval": StageStatus.SKIP,
        "release": StageStatus.PASS,
    }
    figures: dict[str, dict[str, object]] = {
        "lint": {"findings": 1, "low": 1, "blocking": 0},
        "scan": {"findings": 2, "high": 1, "medium": 1, "blocking": 1, "ai_assisted": 1},
        "dependencies": {"findings": 1, "critical": 1, "blocking": 1},
        "unit": {"tests": 42, "failed": 0, "coverage": 87.25},
        "performance": {"p99_ms": 73, "rps": 410.5},
    }
    stages = [
        StageResult(
            id=stage,
            status=statuses[stage],
            summary=f"{stage} summary | with a pipe",
            required=stage not in ("performance", "integration"),
            duration_s=0.0 if statuses[stage] is StageStatus.SKIP else 1.5 + index,
            figures=figures.get(stage, {}),
            findings=by_stage.get(stage, []),
            command=["ruff", "check", "--output-format", "json"] if stage == "lint" else None,
            ai_assisted=stage == "scan",
            rules=_ran(stage),
        )
        for index, stage in enumerate(STAGES)
    ]
    if released:
        for stage in stages:
            if stage.status in (StageStatus.FAIL, StageStatus.ERROR):
                stage.status = StageStatus.PASS
    provenance = Provenance(
        base="0123456789abcdef0123",
        commits=[
            Commit("1111111111aaaa", "feat: add api", "Ada", True, "Claude"),
            Commit("2222222222bbbb", "fix: retry", "Bob", True, "Copilot"),
            Commit("3333333333cccc", f"docs: {NON_ASCII}", "Cy", False),
        ],
        changed_files=["src/app/api.py", "src/app/util.py"],
        ai_lines={"src/app/api.py": set(range(1, 121))},
        human_lines={"src/app/util.py": set(range(1, 31))},
    )
    readiness = [
        AxisLevel(axis, level, [] if level == "gold" else [f"{axis} needs more"])
        for axis, level in zip(
            AXES, ("none", "bronze", "silver", "gold", "bronze", "none"), strict=True
        )
    ]
    return GateReport(
        run_id="20240101-120000-abcd",
        run_dir="/tmp/project/.prodready/runs/20240101-120000-abcd",
        stages=stages,
        provenance=provenance,
        readiness=readiness,
        overall_level="none" if not released else "bronze",
        policy={"fail_on": "high"},
        reasons=[]
        if released
        else [
            "scan failed: 1 blocking finding on AI-assisted lines",
            f"dependencies failed: {XSS}",
        ],
        started_at="2024-01-01T12:00:00Z",
        duration_s=42.5,
    )


def _many_findings(count: int) -> GateReport:
    report = _report()
    security = next(stage for stage in report.stages if stage.id == "scan")
    security.findings = [
        GateFinding(
            stage="scan",
            rule=f"RES{index % 7:03d}",
            severity=list(Severity)[index % 4],
            category="resilience",
            path=f"src/pkg/module_{index}.py",
            line=index + 1,
            message=f"finding {index} with | pipe and `code` {XSS} " + "x" * 80,
            fix="do the right thing",
            snippet=f"call({index})  # {NON_ASCII}",
            fingerprint=f"fp{index}",
            ai_assisted=index % 3 == 0,
        )
        for index in range(count)
    ]
    return report


def test_registry() -> None:
    assert GATE_FORMATS == ("text", "json", "markdown", "sarif", "html")
    for name in GATE_FORMATS:
        assert callable(gate_renderer(name))
    with pytest.raises(ValueError, match="unknown gate format"):
        gate_renderer("xml")


@pytest.mark.parametrize("name", GATE_FORMATS)
def test_every_format_renders_released_blocked_and_empty(name: str) -> None:
    render = gate_renderer(name)
    for report in (_report(), _report(released=True), GateReport(run_id="r", run_dir="/tmp/r")):
        out = render(report)
        assert out.endswith("\n")
        assert not ANSI.search(out)


# --- json -----------------------------------------------------------------------------------


def test_json_is_the_documented_dict() -> None:
    report = _report()
    out = gate_renderer("json")(report)
    data = json.loads(out)
    assert data == json.loads(json.dumps(report.to_dict(__version__)))
    assert set(data) == {
        "tool",
        "version",
        "run",
        "verdict",
        "stages",
        "findings",
        "provenance",
        "readiness",
        "policy",
        "summary",
    }
    assert data["verdict"] == {"release": False, "reasons": report.reasons}
    assert [stage["id"] for stage in data["stages"]] == list(STAGES)
    assert data["summary"]["ai_assisted_findings"] == 1
    assert NON_ASCII in out  # ensure_ascii=False
    assert out.startswith('{\n  "tool": "prodready"')
    assert json.loads(gate_renderer("json")(_report(released=True)))["verdict"]["release"] is True


# --- text -----------------------------------------------------------------------------------


def test_text_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")  # the text report is as wide as the terminal
    report = _report()
    out = gate_renderer("text")(report, color=False)
    assert out.startswith("RELEASE BLOCKED")
    assert not ANSI.search(out)
    for reason in report.reasons:
        assert f"* {reason}" in out
    for stage in report.stages:
        row = next(line for line in out.splitlines() if line.startswith(f"| {stage.id} "))
        assert f"| {stage.status.name} " in row
        assert ("required" if stage.required else "advisory") in row
    assert "findings=2 blocking=1 high=1" in out  # the cell wraps after that
    assert "tests=42 failed=0 coverage=87.2%" in out
    assert "p99_ms=73" in out
    assert f"  change  {PROVENANCE}" in out.splitlines()
    assert "overall: NONE" in out
    assert "Capacity & performance" in out and "GOLD" in out
    # Findings: most severe first, the AI mark on the AI-assisted one only.
    first = out.index("requirements.txt:1")
    assert first < out.index("src/app/api.py:12") < out.index("src/app/util.py:3")
    assert out.count("[AI]") == 2  # the scan stage row and the finding
    ai_line = next(line for line in out.splitlines() if "src/app/api.py:12" in line)
    assert "RES001" in ai_line and "[AI]" in ai_line
    assert "= fix: pass timeout=(3.05, 27)" in out
    assert NON_ASCII in out
    assert report.run_dir in out
    assert all(len(line) <= 120 for line in out.splitlines())
    assert out.rstrip().endswith("RELEASE BLOCKED (2 reasons)")


def test_text_fits_100_columns_when_piped(tmp_path: Path) -> None:
    """Like `scan`: the terminal's width, 100 columns when not a terminal and COLUMNS is unset;
    cells and reasons wrap at word boundaries."""
    render = (
        "import sys\n"
        f"sys.path[:0] = [{str(TESTS)!r}, {str(TESTS / 'gate')!r}]\n"
        "from test_gate_reports import _report\n"
        "from prodready.report import gate_renderer\n"
        "report = _report()\n"
        "report.reasons.append('performance failed: ' + 'the p99 latency broke its bound ' * 6)\n"
        "print(gate_renderer('text')(report, color=False), end='')\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    done = subprocess.run(
        [sys.executable, "-c", render],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) == 100
    assert [len(line) for line in lines if line.startswith("+-")] == [100, 100, 100, 100]
    scan_row = lines.index(next(line for line in lines if line.startswith("| scan [AI] ")))
    assert [line.split("|")[5].strip() for line in lines[scan_row : scan_row + 3]] == [
        "findings=2 blocking=1",
        "high=1 medium=1",
        "ai_assisted=1",
    ]
    reason = lines.index(next(line for line in lines if "performance failed:" in line))
    assert lines[reason : reason + 3] == [
        "  * performance failed: the p99 latency broke its bound the p99 latency broke its bound "
        "the p99",
        "    latency broke its bound the p99 latency broke its bound the p99 latency broke its "
        "bound the p99",
        "    latency broke its bound",
    ]


def test_text_released_and_colour() -> None:
    out = gate_renderer("text")(_report(released=True))
    assert out.startswith("RELEASE ALLOWED")
    assert "RELEASE BLOCKED" not in out
    coloured = gate_renderer("text")(_report(), color=True)
    assert ANSI.search(coloured)
    assert "RELEASE BLOCKED" in coloured


def test_text_caps_the_findings() -> None:
    out = gate_renderer("text")(_many_findings(50))
    assert "Top findings (20 of 52" in out  # 50 scan, 1 lint, 1 dependencies
    assert "... 32 more findings" in out


# --- markdown -------------------------------------------------------------------------------


def test_markdown_blocked_without_github(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in GITHUB_ENV:
        monkeypatch.delenv(name, raising=False)
    report = _report()
    out = gate_renderer("markdown")(report)
    assert "## \u26d4 Release blocked" in out
    assert "- dependencies failed: \\<script\\>alert(1)\\</script\\>" in out
    assert "| Status | Stage | Required | Duration | Key figures | Summary |" in out
    for stage in report.stages:
        assert f"`{stage.id}`" in out
    assert "| \u274c fail | `scan` \U0001f916 | required | 2.5 s |" in out
    assert "| \u26a0\ufe0f error | `integration` | advisory |" in out
    assert "scan summary \\| with a pipe" in out
    assert f"**Provenance:** {PROVENANCE} \u00b7 base `0123456789`" in out.splitlines()
    assert "| Capacity \\& performance | \U0001f947 Gold |" in out
    # Plain locations, no links.
    assert "`src/app/api.py:12`" in out
    assert "](http" not in out
    # The AI mark, escaped pipes and backticks in text and code spans.
    assert "| **high** \U0001f916 |" in out
    assert "Use of \\`assert\\` detected \\| pipes \\| here" in out
    assert "`` requests.get(url)  # a \\| b `tick` ``" in out
    assert "<script>" not in out
    assert NON_ASCII in out
    # Every table row has the same number of unescaped pipes as its header.
    for line in out.splitlines():
        if line.startswith("| Severity"):
            columns = line.count("|")
        elif line.startswith("| **"):
            assert len(re.findall(r"(?<!\\)\|", line)) == columns, line


def test_markdown_links_on_github(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/shop")
    monkeypatch.setenv("GITHUB_SHA", "deadbeef")
    out = gate_renderer("markdown")(_report())
    assert (
        "[`src/app/api.py:12`](https://github.com/acme/shop/blob/deadbeef/src/app/api.py#L12)"
        in out
    )
    assert "(https://github.com/acme/shop/blob/deadbeef/requirements.txt#L1)" in out
    monkeypatch.delenv("GITHUB_SHA")
    assert "](https://" not in gate_renderer("markdown")(_report())


def test_markdown_released() -> None:
    out = gate_renderer("markdown")(_report(released=True))
    assert "## \u2705 Release allowed" in out
    assert "blocked" not in out.lower().split("\n", 2)[1]


def test_markdown_folds_and_truncates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/shop")
    monkeypatch.setenv("GITHUB_SHA", "0" * 40)
    small = gate_renderer("markdown")(_many_findings(30))
    assert "<details><summary>17 more findings</summary>" in small
    assert small.count("</details>") == 1
    assert "not shown" not in small
    big = gate_renderer("markdown")(_many_findings(5000))
    assert len(big) < 65_536
    assert len(big.encode("utf-16-le")) // 2 < 65_536  # however GitHub counts
    assert re.search(r"_\d+ more findings not shown: a comment is limited", big)
    assert big.count("<details>") == big.count("</details>") == 1
    assert big.rstrip().endswith("</sub>")


# --- sarif ----------------------------------------------------------------------------------


def test_sarif_validates_and_carries_properties() -> None:
    import jsonschema

    report = _report()
    document = json.loads(gate_renderer("sarif")(report))
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(document)
    runs = {run["properties"]["stage"]: run for run in document["runs"]}
    # Skipped stages, and the errored stage that found nothing, have no run.
    assert set(runs) == {"lint", "scan", "dependencies", "unit", "performance", "release"}
    assert runs["lint"]["tool"]["driver"]["name"] == "ruff"
    assert runs["scan"]["tool"]["driver"]["name"] == "prodready"
    assert len({run["automationDetails"]["id"] for run in document["runs"]}) == len(runs)
    results = [result for run in document["runs"] for result in run["results"]]
    assert len(results) == len(report.findings)
    for result in results:
        assert {"stage", "axis", "ai_assisted"} <= set(result["properties"])
    by_rule = {result["ruleId"]: result for result in results}
    assert by_rule["RES001"]["properties"]["ai_assisted"] is True
    assert by_rule["RES001"]["properties"]["stage"] == "scan"
    assert by_rule["RES001"]["properties"]["axis"] == "emergency-response"
    assert by_rule["S101"]["properties"]["ai_assisted"] is False
    assert by_rule["DEP001"]["properties"]["ai_assisted"] is None
    assert by_rule["RES001"]["partialFingerprints"] == {"prodready/v1": "abc123"}
    assert "partialFingerprints" not in by_rule["S101"]
    # Registry rules carry their documentation; unknown rules a minimal descriptor.
    rules = {rule["id"]: rule for rule in runs["scan"]["tool"]["driver"]["rules"]}
    assert rules["RES001"]["helpUri"].endswith("#res001-http-call-without-timeout")
    assert rules["ZZZ999"]["properties"]["security-severity"] == "5.5"
    for run in document["runs"]:
        ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
        for result in run["results"]:
            assert ids[result["ruleIndex"]] == result["ruleId"]
    lint_rule = runs["lint"]["tool"]["driver"]["rules"][0]
    assert lint_rule["helpUri"] == "https://docs.astral.sh/ruff/rules/assert/"
    assert runs["lint"]["invocations"][0]["commandLine"] == "ruff check --output-format json"


def test_sarif_of_an_empty_and_a_large_report_validates() -> None:
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    empty = json.loads(gate_renderer("sarif")(GateReport(run_id="r", run_dir="/tmp/r")))
    validator.validate(empty)
    assert empty["runs"] == []
    validator.validate(json.loads(gate_renderer("sarif")(_many_findings(300))))


# --- html -----------------------------------------------------------------------------------


def test_html_is_balanced_escaped_and_self_contained() -> None:
    page = gate_renderer("html")(_report())
    assert page.startswith("<!DOCTYPE html>")
    audit = audit_html(page)
    assert audit.errors == []
    assert audit.stack == []
    assert "script" not in audit.tags
    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    text = "".join(audit.text)
    assert f"HTTP call without a timeout {XSS}" in text
    assert not any(name.startswith("on") for name, _ in audit.attrs)
    assert "javascript:" not in page.lower()
    assert len(audit.ids) == len(set(audit.ids))
    for name, value in audit.attrs:
        if name in {"src", "href", "action", "srcset", "data", "poster", "xlink:href"}:
            assert not re.match(r"\s*(https?:)?//", value), (name, value)
    for tag in ("link", "img", "iframe", "object", "embed"):
        assert tag not in audit.tags
    css = "".join(audit.styles)
    assert css
    assert "@import" not in css
    assert "url(" not in css
    assert "http" not in css
    assert not re.search(r"url\(\s*['\"]?https?:", page)
    assert "Content-Security-Policy" in page


def test_html_contents() -> None:
    report = _report()
    page = gate_renderer("html")(report)
    text = "".join(audit_html(page).text)
    assert "RELEASE BLOCKED" in text
    for reason in report.reasons:
        assert reason in text
    for stage in report.stages:
        assert stage.id in text
        assert f'id="stage-{stage.id}"' in page
        assert stage.status.name in text
    # The timeline: a bar per stage that took time, coloured by status.
    assert page.count('<div class="bar ') == 7
    assert '<div class="bar error"' in page
    assert page.count("<svg") == 4  # severity, category, AI split, changed lines
    for finding in report.findings:
        assert f"{finding.path}:{finding.line}" in text
        assert finding.message in text
        assert finding.snippet in text
        if finding.fix:
            assert finding.fix in text
    assert "Use of `assert` detected | pipes | here" in text
    assert NON_ASCII in text
    assert "Capacity & performance" in text and "GOLD" in text
    assert "Claude" in text and "Copilot" in text
    assert "120 AI-written, 30 by humans" in text
    assert f"prodready {__version__}" in text


def test_html_released_and_empty() -> None:
    page = gate_renderer("html")(_report(released=True))
    text = "".join(audit_html(page).text)
    assert "RELEASE ALLOWED" in text and "RELEASE BLOCKED" not in text
    empty = gate_renderer("html")(GateReport(run_id="r", run_dir="/tmp/r"))
    audit = audit_html(empty)
    assert audit.errors == [] and audit.stack == []
    assert "No stage ran." in empty
    assert "No findings." in empty
