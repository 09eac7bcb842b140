"""Report formats: SARIF validated against the 2.1.0 schema, GitHub annotations, text."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from conftest import SARIF_SCHEMA

from prodready.model import Config
from prodready.report import renderer
from prodready.report.sarif_format import render as render_sarif

SCHEMA = SARIF_SCHEMA


@pytest.fixture
def result(tmp_path: Path, run_scan):
    (tmp_path / "api.py").write_text(
        textwrap.dedent(
            """\
            import requests

            def fetch(url):
                requests.get(url)  # prodready: ignore[RES001]
                return requests.post(url, data="50%,\\n:")
            """
        )
    )
    (tmp_path / "bad.py").write_text("def f(:\n")
    return run_scan(tmp_path, config=Config(select=("RES001", "CFG900")))


def test_sarif_validates_against_the_schema(result) -> None:
    import jsonschema

    document = json.loads(renderer("sarif")(result))
    schema = json.loads(SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class(schema).validate(document)
    run = document["runs"][0]
    assert run["tool"]["driver"]["name"] == "prodready"
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert rule_ids == ["CFG900", "RES001"]
    res001 = run["tool"]["driver"]["rules"][1]
    assert "Why it breaks production" in res001["help"]["markdown"]
    assert res001["helpUri"].endswith("#res001-http-call-without-timeout")
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["CFG900", "RES001"]
    assert all(r["partialFingerprints"]["prodready/v1"] for r in results)
    assert results[1]["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
    assert results[1]["level"] == "error" and results[0]["level"] == "note"
    assert rule_ids[results[1]["ruleIndex"]] == "RES001"
    assert [r["properties"].get("role") for r in results] == ["service", "service"]
    notifications = run["invocations"][0]["toolExecutionNotifications"]
    assert (
        notifications[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "bad.py"
    )


def test_sarif_of_the_full_catalog_validates(run_scan) -> None:
    import jsonschema

    example = Path(__file__).resolve().parents[2] / "examples" / "payments-service"
    result = run_scan(example, config=Config())
    document = json.loads(render_sarif(result, all_rules=True))
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(document)
    rules = document["runs"][0]["tool"]["driver"]["rules"]
    assert len(rules) == len(result.rules) == 198
    security = [r for r in rules if r["properties"]["category"] == "security"]
    assert security and all("security-severity" in r["properties"] for r in security)
    ids = [rule["id"] for rule in rules]
    for entry in document["runs"][0]["results"]:
        assert ids[entry["ruleIndex"]] == entry["ruleId"]


def test_sarif_describes_only_the_rules_that_fired(run_scan) -> None:
    import jsonschema

    example = Path(__file__).resolve().parents[2] / "examples" / "payments-service"
    result = run_scan(example, config=Config())
    document = json.loads(renderer("sarif")(result))
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(document)
    run = document["runs"][0]
    ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert ids == sorted({finding.rule for finding in result.findings})
    assert len(ids) < len(result.rules)
    for entry in run["results"]:
        assert ids[entry["ruleIndex"]] == entry["ruleId"]


def test_github_annotations_escape_data_and_properties(result) -> None:
    lines = renderer("github")(result).splitlines()
    assert lines[0].startswith("::notice file=api.py,line=4,")
    assert lines[1].startswith("::error file=api.py,line=5,endLine=5,col=12,endColumn=")
    assert "title=RES001 http-call-without-timeout (high)" in lines[1]
    assert "%0AFix%3A" not in lines[1] and "%0AFix: " in lines[1]
    assert lines[2] == "::error file=bad.py,line=1,title=prodready::syntax error: invalid syntax"


def test_json_is_exactly_the_documented_shape(result) -> None:
    document = json.loads(renderer("json")(result))
    assert set(document) == {"tool", "version", "findings", "summary", "errors"}
    assert set(document["summary"]) == {"files", "findings", "by_severity", "by_category"}


def test_text_groups_by_file_and_summarises(result) -> None:
    text = renderer("text")(result, color=False)
    assert text.splitlines()[0] == "api.py"
    assert "Files that could not be analysed (1)" in text
    assert "bad.py:1: syntax error" in text
    summary = text.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"2 findings in 2 files; 1 error; \d+\.\d\ds", summary), summary
    assert "\x1b[" not in text
    assert "\x1b[" in renderer("text")(result, color=True)


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        renderer("xml")


DEPS_FIXTURE = Path(__file__).parents[1] / "fixtures" / "deps_json"


def test_deps_json_output_is_byte_identical_to_the_recorded_report(tmp_path: Path) -> None:
    """``prodready deps --format json`` adds the inventory and the notes to the scan's JSON; the
    recorded report (taken before the CLI stopped re-parsing its own JSON) pins every byte."""
    import os
    import shutil

    from conftest import run_cli

    project = tmp_path / "project"
    shutil.copytree(DEPS_FIXTURE / "project", project)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = run_cli(["deps", "--offline", "--no-cache", "--format", "json", "."], project, env)
    assert done.returncode == 1, done.stderr
    assert done.stdout == (DEPS_FIXTURE / "expected.json").read_text(encoding="utf-8")
    assert done.stderr == "prodready: 2 notes (run with -v to see them)\n"
