"""``--format sarif``: SARIF 2.1.0 for GitHub code scanning and other SARIF consumers.

Rules carry their full documentation as help text; results carry ``partialFingerprints`` so
code scanning tracks an alert across commits that move it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prodready import __version__
from prodready.model import DOCS_URL, Category, RuleMeta, ScanResult, Severity

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "prodready/v1"

LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
}
# GitHub ranks security alerts by this CVSS-like score.
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
}
_PRECISION = {"high": "high", "medium": "medium", "low": "low"}


def rule_descriptor(rule: RuleMeta) -> dict[str, Any]:
    tags = [rule.category.value]  # "security" for security rules: GitHub's security tag
    if rule.cwe is not None:
        tags.append(f"external/cwe/cwe-{rule.cwe}")
    properties: dict[str, Any] = {
        "tags": tags,
        "precision": _PRECISION[rule.confidence.value],
        "problem.severity": LEVEL[rule.severity].replace("note", "recommendation"),
        "category": rule.category.value,
        "severity": rule.severity.value,
    }
    if rule.category is Category.SECURITY:
        properties["security-severity"] = SECURITY_SEVERITY[rule.severity]
    return {
        "id": rule.code,
        # The codes the rule was reported under before it moved category: code scanning keeps
        # the alerts raised under them.
        **({"deprecatedIds": list(rule.redirected_from)} if rule.redirected_from else {}),
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.summary + (f" Fix: {rule.fix}" if rule.fix else "")},
        "help": {"text": rule.docs or rule.summary, "markdown": rule.docs or rule.summary},
        "helpUri": rule.docs_url,
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": properties,
    }


def render(result: ScanResult, *, color: bool = False, all_rules: bool = False) -> str:
    """The SARIF log; ``tool.driver.rules`` lists only the rules that fired (as code scanning
    recommends: the full catalog is 100+ descriptors) unless ``all_rules``."""
    fired = {finding.rule for finding in result.findings}
    used = sorted(fired | set(result.rules) if all_rules else fired)
    rules = [result.rules[code] for code in used if code in result.rules]
    index = {rule.code: position for position, rule in enumerate(rules)}
    results: list[dict[str, Any]] = []
    for f in result.findings:
        region: dict[str, Any] = {
            "startLine": f.line,
            "startColumn": f.column,
            "endLine": f.end_line,
            "endColumn": max(f.end_column, 1),
        }
        if f.snippet:
            region["snippet"] = {"text": f.snippet}
        entry: dict[str, Any] = {
            "ruleId": f.rule,
            "level": LEVEL[f.severity],
            "message": {"text": f.message + (f" Fix: {f.fix}" if f.fix else "")},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                        "region": region,
                    }
                }
            ],
            "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
            "properties": {
                "severity": f.severity.value,
                "confidence": f.confidence.value,
                "category": f.category.value,
                **({"cwe": f"CWE-{f.cwe}"} if f.cwe is not None else {}),
                **({"role": f.role} if f.role is not None else {}),
            },
        }
        if f.rule in index:
            entry["ruleIndex"] = index[f.rule]
        results.append(entry)
    notifications = [
        {
            "level": "error",
            "message": {"text": error.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": error.path, "uriBaseId": "%SRCROOT%"},
                        **({"region": {"startLine": error.line}} if error.line else {}),
                    }
                }
            ],
        }
        for error in result.errors
    ]
    root_uri = Path(result.root).as_uri().rstrip("/") + "/"
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "prodready",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": DOCS_URL,
                        "rules": [rule_descriptor(rule.meta) for rule in rules],
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root_uri}},
                "columnKind": "unicodeCodePoints",
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
