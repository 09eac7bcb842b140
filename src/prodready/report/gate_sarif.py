"""``prodready gate --format sarif``: every stage's findings in one SARIF 2.1.0 log.

One run per stage that ran to completion or reported findings. Skipped stages, and stages that
could not run and found nothing, have none: an empty run would tell code scanning that their
alerts were fixed. Each run has its own ``automationDetails`` id, so GitHub code scanning
keeps the stages apart as categories. The lint run's driver is ``ruff``; every other run's is
``prodready``, with the rule descriptors of the scan's SARIF (full documentation as help) for
the rules the stage ran (its result carries their metadata). Results carry
``properties.stage``, ``properties.axis`` and ``properties.ai_assisted`` (true, false, or null
when the line is not part of the change), and ``partialFingerprints`` when the finding has a
fingerprint.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from prodready import __version__
from prodready.gate.model import GateFinding, GateReport, StageResult, StageStatus
from prodready.model import DOCS_URL
from prodready.report.sarif_format import (
    FINGERPRINT_KEY,
    LEVEL,
    SCHEMA,
    SECURITY_SEVERITY,
    rule_descriptor,
)

RUFF_URL = "https://docs.astral.sh/ruff/"
AUTOMATION_PREFIX = "prodready-gate"


def _fallback_descriptor(code: str, findings: list[GateFinding], *, lint: bool) -> dict[str, Any]:
    """A descriptor from what the findings say, for rules the stage did not describe (ruff's, or a
    house rule whose pack is not installed here)."""
    first = findings[0]
    severity = max(finding.severity for finding in findings)
    descriptor: dict[str, Any] = {"id": code}
    if first.name:
        descriptor["name"] = first.name
    descriptor["shortDescription"] = {"text": first.name or code}
    if lint:
        descriptor["helpUri"] = (
            f"{RUFF_URL}rules/{first.name}/" if first.name else f"{RUFF_URL}rules/"
        )
    properties: dict[str, Any] = {
        "tags": [first.category],
        "category": first.category,
        "severity": severity.value,
    }
    if first.category == "security":
        properties["security-severity"] = SECURITY_SEVERITY[severity]
    descriptor["defaultConfiguration"] = {"level": LEVEL[severity]}
    descriptor["properties"] = properties
    return descriptor


def _result(finding: GateFinding, rule_index: dict[str, int]) -> dict[str, Any]:
    region: dict[str, Any] = {
        "startLine": max(finding.line, 1),
        "startColumn": max(finding.column, 1),
    }
    if finding.snippet:
        region["snippet"] = {"text": finding.snippet}
    properties: dict[str, Any] = {
        "stage": finding.stage,
        "axis": finding.axis,
        "ai_assisted": finding.ai_assisted,
        "severity": finding.severity.value,
        "category": finding.category,
    }
    if finding.commit:
        properties["commit"] = finding.commit
    if finding.ai_assisted:
        properties["tags"] = ["ai-assisted"]
    entry: dict[str, Any] = {
        "ruleId": finding.rule,
        "level": LEVEL[finding.severity],
        "message": {"text": finding.message + (f" Fix: {finding.fix}" if finding.fix else "")},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": finding.path, "uriBaseId": "%SRCROOT%"},
                    "region": region,
                }
            }
        ],
    }
    if finding.rule in rule_index:
        entry["ruleIndex"] = rule_index[finding.rule]
    if finding.fingerprint:
        entry["partialFingerprints"] = {FINGERPRINT_KEY: finding.fingerprint}
    entry["properties"] = properties
    return entry


def _run(report: GateReport, stage: StageResult) -> dict[str, Any]:
    lint = stage.id == "lint"
    known = stage.rules
    by_rule: dict[str, list[GateFinding]] = {}
    for finding in stage.findings:
        by_rule.setdefault(finding.rule, []).append(finding)
    descriptors = [
        rule_descriptor(known[code])
        if not lint and code in known
        else _fallback_descriptor(code, by_rule[code], lint=lint)
        for code in sorted(by_rule)
    ]
    rule_index = {descriptor["id"]: index for index, descriptor in enumerate(descriptors)}
    driver: dict[str, Any] = (
        {"name": "ruff", "informationUri": RUFF_URL}
        if lint
        else {
            "name": "prodready",
            "version": __version__,
            "semanticVersion": __version__,
            "informationUri": DOCS_URL,
        }
    )
    driver["rules"] = descriptors
    invocation: dict[str, Any] = {"executionSuccessful": stage.status is not StageStatus.ERROR}
    if stage.command:
        invocation["commandLine"] = shlex.join(stage.command)
        invocation["arguments"] = list(stage.command)
    if stage.status is StageStatus.ERROR:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": stage.summary or f"{stage.id} failed to run"}}
        ]
    return {
        "tool": {"driver": driver},
        "automationDetails": {"id": f"{AUTOMATION_PREFIX}/{stage.id}/{report.run_id}"},
        "columnKind": "unicodeCodePoints",
        "invocations": [invocation],
        "results": [_result(finding, rule_index) for finding in stage.findings],
        "properties": {
            "stage": stage.id,
            "status": stage.status.value,
            "required": stage.required,
            "summary": stage.summary,
            "duration_s": round(stage.duration_s, 3),
            "ai_assisted": stage.ai_assisted,
            "release": report.released,
        },
    }


def render(report: GateReport, *, color: bool = False) -> str:
    ran = [
        stage
        for stage in report.stages
        if stage.findings or stage.status in (StageStatus.PASS, StageStatus.FAIL)
    ]
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [_run(report, stage) for stage in ran],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
