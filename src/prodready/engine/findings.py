"""The one way from what a rule reported to a :class:`Finding`, for rules of one file and rules
of the whole project alike.

A finding is located by a span of the file's text. Its fingerprint is the rule (the code it was
first published under: a renumbered rule keeps its fingerprints), the report path,
the span's text with credentials masked and whitespace collapsed, and which repetition of that
text in the file it is (so it survives lines moving). A project rule reports at a line: its span
is the line's non-blank extent (:func:`line_extent`). Any finding on a line holding a credential
would echo it: every field shown is masked, and the masked text is what is fingerprinted (stable,
and not a hash of the bare secret).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prodready.engine.location import Location, RawFinding
from prodready.engine.records import fingerprint
from prodready.engine.secrets import redact
from prodready.engine.suppress import (
    Suppression,
    find_suppressions,
    python_comments,
    suppression_for,
)
from prodready.model import Finding, Rule

SNIPPET_CHARS = 240


@dataclass(slots=True)
class SourceText:
    """A file's lines as findings quote them, and its suppression comments, found once."""

    lines: list[str]
    python: bool  # suppressions count only in real comments, not in strings
    _suppressions: dict[int, Suppression] | None = field(default=None, repr=False)

    def suppressions(self) -> dict[int, Suppression]:
        """Suppression comments by line (tokenised on first use, then kept)."""
        if self._suppressions is None:
            if any("prodready" in line for line in self.lines):
                comments = python_comments("\n".join(self.lines)) if self.python else None
                self._suppressions = find_suppressions(self.lines, comments)
            else:
                self._suppressions = {}
        return self._suppressions

    def suppressed(self, rule: Rule, line: int, end_line: int) -> bool:
        """Whether a suppression silences a finding of ``rule`` there (and mark it used)."""
        suppressions = self.suppressions()
        if not suppressions:
            return False
        found = suppression_for(
            suppressions, rule.code, rule.name, line, end_line, rule.redirected_from
        )
        if found is None:
            return False
        found.used.add(rule.code)
        return True


def line_extent(lines: list[str], line: int) -> Location:
    """The non-blank extent of a line: where a project rule's report points. A blank line, or
    one past the end of the file, is the empty span at its start."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    stripped = text.strip()
    if not stripped:
        return Location(line, 1, line, 1)
    return Location(line, len(text) - len(text.lstrip()) + 1, line, len(text.rstrip()) + 1)


def span_text(lines: list[str], location: Location) -> str:
    """The source text a location covers."""
    first = location.line - 1
    last = location.end_line - 1
    if first >= len(lines) or first < 0:
        return ""
    if first == last:
        return lines[first][location.column - 1 : location.end_column - 1]
    parts = [lines[first][location.column - 1 :]]
    parts.extend(lines[first + 1 : min(last, len(lines))])
    if last < len(lines):
        parts.append(lines[last][: location.end_column - 1])
    return "\n".join(parts)


def build_findings(
    raw: list[RawFinding], lines: list[str], relpath: str, role: str | None = None
) -> list[Finding]:
    """The findings of one file, in the order given (the order numbers repetitions: callers
    that want it stable sort first). ``relpath``: the path reports name the file by; ``role``:
    the file's role as its analysis found it (None: judged later, from its path)."""
    seen: dict[tuple[str, str], int] = {}
    findings: list[Finding] = []
    secrets = [item.secret for item in raw if item.secret]
    for item in raw:
        rule = item.rule
        location = item.location
        normalised = " ".join(redact(span_text(lines, location), secrets).split())
        occurrence = seen.get((rule.code, normalised), 0)
        seen[(rule.code, normalised)] = occurrence + 1
        line_text = lines[location.line - 1] if 0 < location.line <= len(lines) else ""
        findings.append(
            Finding(
                rule=rule.code,
                name=rule.name,
                category=rule.category,
                severity=item.severity or rule.severity,
                confidence=item.confidence or rule.confidence,
                path=relpath,
                line=location.line,
                column=location.column,
                end_line=location.end_line,
                end_column=location.end_column,
                message=redact(item.message, secrets),
                fingerprint=fingerprint(rule.fingerprint_code, relpath, normalised, occurrence),
                cwe=rule.cwe,
                fix=redact(item.fix or rule.fix or "", secrets) or None,
                docs=rule.docs_url,
                snippet=redact(line_text.strip(), secrets)[:SNIPPET_CHARS],
                role=role,
                unless=item.unless,
            )
        )
    return findings
