"""What a rule over a non-Python document sees, and the parser chosen by file kind."""

from __future__ import annotations

from typing import Any

from prodready.engine.documents.dockerfile import parse_dockerfile
from prodready.engine.documents.kubernetes import parse_yaml
from prodready.engine.documents.pyproject import parse_pyproject
from prodready.engine.documents.requirements import parse_requirements
from prodready.engine.location import RawFinding, line_location
from prodready.model import Confidence, FileKind, Profile, Rule, Severity


def parse_document(kind: FileKind, text: str) -> Any:
    if kind is FileKind.DOCKERFILE:
        return parse_dockerfile(text)
    if kind in (FileKind.KUBERNETES, FileKind.COMPOSE):
        return parse_yaml(text)
    if kind is FileKind.REQUIREMENTS:
        return parse_requirements(text)
    if kind is FileKind.PYPROJECT:
        return parse_pyproject(text)
    raise ValueError(f"no document parser for {kind}")


class FileContext:
    """What a rule over a non-Python document sees: the file and a way to report."""

    def __init__(self, relpath: str, source: str, kind: FileKind, profile: Profile) -> None:
        self.path = relpath
        self.source = source
        self.kind = kind
        self.profile = profile
        self.lines = source.splitlines()
        self.rule: Rule | None = None
        self.findings: list[RawFinding] = []

    def report(
        self,
        line: int,
        message: str,
        *,
        end_line: int | None = None,
        fix: str | None = None,
        severity: Severity | None = None,
        confidence: Confidence | None = None,
        secret: str | None = None,
    ) -> None:
        assert self.rule is not None, "report() called outside a rule"
        location = line_location(self.lines, max(line, 1), end_line)
        self.findings.append(
            RawFinding(self.rule, location, message, fix, severity, confidence, secret)
        )
