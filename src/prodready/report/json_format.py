"""``--format json``: the machine-readable report."""

from __future__ import annotations

import json

from prodready import __version__
from prodready.model import DependencyReport, ScanResult


def render(
    result: ScanResult, *, color: bool = False, dependencies: DependencyReport | None = None
) -> str:
    """The report; ``prodready deps`` adds its inventory and notes (``dependencies``)."""
    document: dict[str, object] = {
        "tool": "prodready",
        "version": __version__,
        "findings": [finding.to_dict() for finding in result.findings],
        "summary": {
            "files": result.files,
            "findings": len(result.findings),
            "by_severity": result.by_severity(),
            "by_category": result.by_category(),
        },
        "errors": [error.to_dict() for error in result.errors],
    }
    if dependencies is not None:
        document["dependencies"] = list(dependencies.dependencies)
        document["notes"] = list(dependencies.notes)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
