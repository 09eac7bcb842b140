"""``--format gitlab``: a GitLab Code Quality report (a JSON list of Code Climate issues).

GitLab shows these in merge requests. Severities map to GitLab's scale: critical -> critical,
high -> major, medium -> minor, low -> info. Fingerprints are the findings' own, made unique
when one rule flags the same code twice in a file (GitLab drops repeated fingerprints).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from prodready.model import ScanResult, Severity
from prodready.report.concise_format import display_path

SEVERITY = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "major",
    Severity.MEDIUM: "minor",
    Severity.LOW: "info",
}


def render(result: ScanResult, *, color: bool = False) -> str:
    issues: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for f in result.findings:
        repeat = seen.get(f.fingerprint, 0)
        seen[f.fingerprint] = repeat + 1
        fingerprint = f.fingerprint
        if repeat:
            fingerprint = hashlib.blake2b(
                f"{f.fingerprint}:{repeat}".encode(), digest_size=16
            ).hexdigest()
        issues.append(
            {
                "type": "issue",
                "description": f"{f.rule} {f.message}",
                "check_name": f"{f.rule} {f.name}",
                "fingerprint": fingerprint,
                "severity": SEVERITY[f.severity],
                "location": {
                    "path": display_path(result.root, f.path),
                    "lines": {"begin": f.line, "end": f.end_line},
                },
            }
        )
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"
