"""One convention for every rule: ``tests/rules/<category>/fixtures/<CODE>/`` holds files in
which each offending line is marked ``# expect: CODE`` and lines that must stay clean ``# ok``. A
rule's test scans its directory with only that rule selected and fails on any missing, extra or
repeated finding; ``expected.json`` beside the files pins each finding's column and message text.
Regenerate the snapshots with ``pytest --update-snapshots`` (or ``PRODREADY_UPDATE_SNAPSHOTS=1``).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from prodready.catalog import default_registry
from prodready.config import load_config
from prodready.model import Config, Finding

RULE_TESTS = Path(__file__).parent  # tests/rules/<category>/ mirrors src/prodready/rules/
SNAPSHOT = "expected.json"
EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9 ,]+)")
OK = re.compile(r"#\s*ok\b")
DOC_SECTIONS = ("## What it does", "## Why it breaks production", "## Example", "## Use instead")

ALL_CODES = sorted(default_registry(plugins=False).rules)

Place = tuple[str, int]
Snapshot = list[dict[str, object]]


def _markers(directory: Path, code: str) -> tuple[Counter[Place], int]:
    """Where findings must start: a line marked ``# expect: CODE, CODE`` expects two."""
    expected: Counter[Place] = Counter()
    ok_lines = 0
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != SNAPSHOT):
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            match = EXPECT.search(line)
            if match:
                times = [c.strip() for c in match.group(1).split(",")].count(code)
                if times:
                    expected[(path.relative_to(directory).as_posix(), number)] += times
            if OK.search(line):
                ok_lines += 1
    return expected, ok_lines


def fixture_directory(code: str) -> Path:
    """``tests/rules/<category>/fixtures/<CODE>/``: the category is the rule module's folder."""
    found = sorted(RULE_TESTS.glob(f"*/fixtures/{code}"))
    assert len(found) == 1, f"rule {code} needs exactly one fixture directory, found {found}"
    return found[0]


def _portable(message: str, directory: Path) -> str:
    """Messages may name a fixture's own files by absolute path (DEP020's local package index):
    the snapshot says ``<fixtures>`` so that it holds in any checkout."""
    for root in {str(directory.parent.resolve()), str(directory.parent)}:
        message = message.replace(root, "<fixtures>")
    return message


def _snapshot(findings: list[Finding], directory: Path) -> Snapshot:
    entries = [
        {
            "path": f.path,
            "line": f.line,
            "column": f.column,
            "code": f.rule,
            "message": _portable(f.message, directory),
        }
        for f in findings
    ]
    return sorted(entries, key=lambda e: (e["path"], e["line"], e["column"], e["message"]))


def _positions(entries: Snapshot) -> Counter[tuple[object, ...]]:
    return Counter((e["path"], e["line"], e["column"], e["code"]) for e in entries)


def _update_requested(config: pytest.Config) -> bool:
    return bool(config.getoption("--update-snapshots")) or (
        os.environ.get("PRODREADY_UPDATE_SNAPSHOTS") == "1"
    )


@pytest.mark.parametrize("code", ALL_CODES)
def test_rule_fixture(code: str, run_scan, pytestconfig: pytest.Config) -> None:
    directory = fixture_directory(code)
    expected, ok_lines = _markers(directory, code)
    assert expected, f"fixture of {code} marks no '# expect: {code}' line"
    assert ok_lines, f"fixture of {code} marks no '# ok' line that must stay clean"
    # A fixture may describe its production context (profile) in a prodready.toml.
    local = directory / "prodready.toml"
    config = load_config(local) if local.is_file() else Config()
    # It may also select companion rules (an unused-suppression fixture needs the suppressed
    # rule to run); only the findings of the rule under test are compared.
    result = run_scan(directory, config=replace(config, select=(code, *config.select)))
    assert not result.errors, f"fixture of {code} could not be analysed: {result.errors}"
    findings = [f for f in result.findings if f.rule == code]
    # A Counter, not a set: a rule that reports the same place twice is a defect (two alerts).
    actual = Counter((f.path, f.line) for f in findings)
    missing = sorted((expected - actual).elements())
    extra = sorted((actual - expected).elements())
    assert not missing and not extra, (
        f"{code}: missing findings at {missing}, unexpected (or repeated) at {extra}"
    )

    snapshot_path = directory / SNAPSHOT
    observed = _snapshot(findings, directory)
    if _update_requested(pytestconfig):
        snapshot_path.write_text(json.dumps(observed, indent=2) + "\n", encoding="utf-8")
    assert snapshot_path.is_file(), (
        f"fixture of {code} has no {SNAPSHOT}: run pytest with --update-snapshots"
    )
    recorded: Snapshot = json.loads(snapshot_path.read_text(encoding="utf-8"))
    assert _positions(observed) == _positions(recorded)
    assert observed == recorded


@pytest.mark.parametrize("code", ALL_CODES)
def test_rule_documentation(code: str, registry) -> None:
    rule = registry.rules[code]
    for section in DOC_SECTIONS:
        assert section in rule.docs, f"{code} docs lack the section {section!r}"
    assert rule.summary and len(rule.summary) < 120
    assert rule.docs.index(DOC_SECTIONS[0]) < rule.docs.index(DOC_SECTIONS[-1])
    if rule.category.value == "security":
        assert rule.cwe is not None, f"security rule {code} declares no CWE"


def test_catalog_covers_every_python_category(registry) -> None:
    python_categories = {
        rule.category.value
        for rule in registry
        if rule.kind is not None and rule.kind.value == "python"
    }
    expected = {
        "resilience",
        "error-handling",
        "security",
        "observability",
        "data-access",
        "concurrency",
        "state",
        "api-contract",
        "configuration",
        "performance",
        "deployment",  # STA011: a scheduler in the web workers is a deployment-topology defect
    }
    assert python_categories == expected
    python_rules = [
        rule for rule in registry if rule.kind is not None and rule.kind.value == "python"
    ]
    assert len(python_rules) == 140  # DAT003 judges the whole project (engine.semantic)


def test_production_grade_deployment_files_are_silent(run_scan, registry) -> None:
    """A distroless multi-stage image and a hardened, Helm-rendered chart: every Dockerfile and
    Kubernetes rule must stay silent on them (the negative side of all those rules at once)."""
    directory = RULE_TESTS.parent / "fixtures" / "production"
    codes = tuple(
        r.code
        for r in registry
        if r.kind is not None and r.kind.value in {"dockerfile", "kubernetes"}
    )
    result = run_scan(directory, config=Config(select=codes))
    assert result.files == 2 and not result.errors
    assert result.findings == [], [(f.rule, f.path, f.line, f.message) for f in result.findings]
