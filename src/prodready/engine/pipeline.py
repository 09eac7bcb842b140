"""Analysis of one file: read, decode, parse, run the rules, apply suppressions, fingerprint.

This is what worker processes run. Nothing here raises for bad input: an unreadable, undecodable,
unparseable or too deeply nested file becomes a :class:`ScanError` and the scan goes on.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import warnings
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from prodready.engine.documents import DocumentError, FileContext, parse_document
from prodready.engine.findings import SourceText, build_findings
from prodready.engine.location import RawFinding
from prodready.engine.newer_syntax import NewerSyntaxError, parse_source
from prodready.engine.python import PythonAnalyzer, RuleCrash
from prodready.engine.records import FileResult, SourceFile, content_digest
from prodready.engine.roles import detect
from prodready.engine.suppress import Suppression
from prodready.model import FileKind, Finding, Profile, Role, Rule, ScanError

RECURSION_LIMIT = 20_000
_HEAD_CHARS = 600  # where a generated file's header (a Django migration's) is found
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


# A directory holding one of these is a project of its own: its files' roles are judged from it.
PROJECT_MARKERS = (
    ".git",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements.txt",
    "Pipfile",
    "prodready.toml",
)


def role_prefix(root: Path, targets: list[Path]) -> str:
    """Where the scanned project starts, as a prefix of report paths (``examples/app/``), so
    that a project scanned from its parent directory, from inside, or as a copy under any path
    has the same tests, scripts and examples. The project is the nearest directory holding the
    targets that has a :data:`PROJECT_MARKERS` file, below ``root``; none: ``root`` itself."""
    if not targets:
        return ""
    try:
        resolved = [Path(os.path.realpath(target)) for target in targets]
        common = Path(os.path.commonpath([str(path) for path in resolved]))
    except ValueError:
        return ""
    if not common.is_dir():
        common = common.parent
    candidate = common
    while candidate != root and candidate.is_relative_to(root):
        if any(os.path.lexists(candidate / marker) for marker in PROJECT_MARKERS):
            return candidate.relative_to(root).as_posix() + "/"
        candidate = candidate.parent
    return ""


def with_roles(sources: list[SourceFile], prefix: str) -> list[SourceFile]:
    """The sources with their role paths relative to the project at ``prefix``."""
    if not prefix:
        return sources
    return [
        replace(source, role=source.relpath[len(prefix) :])
        if source.relpath.startswith(prefix)
        else source
        for source in sources
    ]


def decode_python(data: bytes) -> str:
    """Decode Python source honouring a BOM and a PEP 263 coding cookie."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    head = data[:400].split(b"\n", 2)[:2]
    for line in head:
        match = _CODING.match(line)
        if match:
            encoding = match.group(1).decode("ascii")
            try:
                return data.decode(encoding)
            except LookupError as exc:
                raise UnicodeError(f"unknown source encoding {encoding!r}") from exc
    return data.decode("utf-8")


class Content(NamedTuple):
    """A file's bytes and their digest, when the caller has read them already."""

    data: bytes
    digest: str


class FileAnalyzer:
    """Applies a fixed rule set to files of every kind."""

    def __init__(
        self, rules: Iterable[Rule], profile: Profile, catalog: Iterable[Rule] = ()
    ) -> None:
        """``catalog``: the rules a suppression may name besides ``rules`` (the built-in ones,
        given by the caller: the engine does not import rules)."""
        rules = list(rules)
        self.rules = rules
        self.catalog = list(catalog)
        self.profile = profile
        # Project rules run after the scan; during it they collect the calls they asked for.
        self.python = PythonAnalyzer(
            r for r in rules if r.kind in (FileKind.PYTHON, FileKind.PROJECT)
        )
        self.file_rules: dict[FileKind, list[Rule]] = {}
        self.event_rules: list[Rule] = []
        for rule in rules:
            if rule.kind is None:
                self.event_rules.append(rule)
            elif rule.kind not in (FileKind.PYTHON, FileKind.PROJECT):
                self.file_rules.setdefault(rule.kind, []).append(rule)
        self._known: _KnownRules | None = None
        if sys.getrecursionlimit() < RECURSION_LIMIT:
            sys.setrecursionlimit(RECURSION_LIMIT)

    def analyze(self, source: SourceFile, content: Content | None = None) -> FileResult:
        """``content``: the file's bytes and digest when the caller read them (to look the
        file up in the cache): a file is read and hashed once."""
        if content is not None:
            return self.analyze_bytes(
                content.data, source.relpath, source.kind, source.role, content.digest
            )
        try:
            with open(source.path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            result = FileResult(source.relpath, "")
            result.errors.append(ScanError(source.relpath, f"cannot read: {exc.strerror or exc}"))
            return result
        return self.analyze_bytes(data, source.relpath, source.kind, source.role)

    def analyze_bytes(
        self,
        data: bytes,
        relpath: str,
        kind: FileKind,
        role: str | None = None,
        digest: str | None = None,
    ) -> FileResult:
        """Findings and errors are named by ``relpath``; rules judge the file by ``role``."""
        result = FileResult(relpath, digest or content_digest(data))
        judged = role or relpath
        if b"\0" in data[:8192]:
            if kind is FileKind.PYTHON:
                result.errors.append(ScanError(relpath, "binary file (contains NUL bytes)"))
            return result
        try:
            text = decode_python(data) if kind is FileKind.PYTHON else data.decode("utf-8-sig")
        except (UnicodeError, SyntaxError) as exc:
            reason = exc.reason if isinstance(exc, UnicodeDecodeError) else str(exc)
            line = _line_of_offset(data, exc.start) if isinstance(exc, UnicodeDecodeError) else None
            result.errors.append(ScanError(relpath, f"cannot decode: {reason}", line))
            return result
        try:
            if kind is FileKind.PYTHON:
                raw, lines, imports, tree = self._python(text, relpath, result, judged)
                file_role = detect(judged, kind, imports, text[:_HEAD_CHARS], tree)
            else:
                raw, lines = self._document(text, relpath, kind, result, judged)
                file_role = detect(judged, kind)
        except RecursionError:
            result.errors.append(ScanError(relpath, "too deeply nested to analyse"))
            return result
        result.findings = self._finish(raw, lines, relpath, kind, result.errors, file_role)
        if result.holds:
            result.role = file_role.value
        return result

    def _python(
        self, text: str, relpath: str, result: FileResult, judged: str
    ) -> tuple[list[RawFinding], list[str], list[str], ast.Module | None]:
        """The findings, the lines, the imported modules and the tree (a test module imports a
        test framework and defines tests)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # SyntaxWarning for invalid escapes, etc.
                tree = parse_source(text, relpath)  # newer syntax: only after a SyntaxError
        except NewerSyntaxError as exc:
            result.errors.append(ScanError(relpath, str(exc), exc.line))
            return [], [], [], None
        except SyntaxError as exc:
            result.errors.append(ScanError(relpath, f"syntax error: {exc.msg}", exc.lineno))
            return [], [], [], None
        except (ValueError, MemoryError, RecursionError) as exc:
            message = (
                "too deeply nested for the parser"
                if not isinstance(exc, ValueError)
                else (f"cannot parse: {exc}")
            )
            result.errors.append(ScanError(relpath, message))
            return [], [], [], None
        ctx = self.python.analyze(text, tree, judged, self.profile)
        result.facts = ctx.facts.record()
        result.holds = tuple(sorted(ctx.established))
        for crash in ctx.crashes:
            result.errors.append(_crash_error(relpath, crash))
        return ctx.findings, ctx.lines, [module for module, _ in ctx.facts.imports], tree

    def _document(
        self, text: str, relpath: str, kind: FileKind, result: FileResult, judged: str
    ) -> tuple[list[RawFinding], list[str]]:
        ctx = FileContext(judged, text, kind, self.profile)
        rules = self.file_rules.get(kind)
        if not rules:
            return [], ctx.lines
        try:
            document = parse_document(kind, text)
        except DocumentError as exc:
            result.errors.append(ScanError(relpath, str(exc), exc.line))
            return [], ctx.lines
        for rule in rules:
            ctx.rule = rule
            try:
                rule.check(document, ctx)
            except RecursionError:
                raise
            except Exception as exc:  # noqa: BLE001 - a broken rule must not lose the other findings
                result.errors.append(
                    ScanError(relpath, f"internal error in rule {rule.code}: {exc!r}")
                )
        return ctx.findings, ctx.lines

    def _finish(
        self,
        raw: list[RawFinding],
        lines: list[str],
        relpath: str,
        kind: FileKind,
        errors: list[ScanError],
        role: Role | None = None,
    ) -> list[Finding]:
        text = SourceText(lines, kind is FileKind.PYTHON)
        kept = [
            item
            for item in raw
            if not text.suppressed(item.rule, item.location.line, item.location.end_line)
        ]
        suppressions = text.suppressions()
        if suppressions and self.event_rules:
            for suppression in suppressions.values():
                self._judge(suppression)
            ctx = FileContext(relpath, "", kind, self.profile)
            ctx.lines = lines
            for suppression in suppressions.values():
                for rule in self.event_rules:
                    ctx.rule = rule
                    try:
                        rule.check(suppression, ctx)
                    except Exception as exc:  # noqa: BLE001 - a broken rule must not lose the rest
                        message = f"internal error in rule {rule.code}: {exc!r}"
                        errors.append(ScanError(relpath, message, suppression.line))
            kept.extend(ctx.findings)
        # Sorted first: the order numbers repetitions of the same text, so it must be stable.
        kept.sort(key=lambda r: (r.location.line, r.location.column, r.rule.code))
        return build_findings(kept, lines, relpath, role.value if role is not None else None)

    def _judge(self, suppression: Suppression) -> None:
        """Record the codes of a suppression that name no rule, and the selected rules it
        silenced nothing of. Rules of the whole project report after the files are analysed,
        so suppressions of theirs are not judged here."""
        if self._known is None:
            self._known = _KnownRules(self.rules, self.catalog)
        known = self._known
        for wanted in suppression.codes:
            rule = known.rule(wanted)
            if rule is None:
                if known.is_typo(wanted):
                    suppression.unknown.append((wanted, known.closest(wanted)))
            elif rule.kind not in (None, FileKind.PROJECT) and rule.code not in suppression.used:
                suppression.unused.append(wanted)


class _KnownRules:
    """The rules a suppression may name: every built-in rule, and the rules of this run."""

    def __init__(self, selected: list[Rule], catalog: list[Rule]) -> None:
        # A renumbered rule answers to its old codes too: a comment written before the move
        # is neither unknown nor unused.
        self.selected = {
            code: rule for rule in selected for code in (rule.code, *rule.redirected_from)
        }
        self.selected_names = {rule.name: rule for rule in selected}
        codes = {rule.code for rule in (*catalog, *selected)}
        names = {rule.name for rule in catalog}
        self.codes = sorted(codes)  # what a misspelt code is compared with: today's codes
        self.old_codes = {code for rule in catalog for code in rule.redirected_from}
        self.names = sorted({*names, *self.selected_names})
        self.prefixes = {code.rstrip("0123456789") for code in (*self.codes, *self.old_codes)}

    def rule(self, wanted: str) -> Rule | None:
        return self.selected.get(wanted.upper()) or self.selected_names.get(wanted.lower())

    def is_typo(self, wanted: str) -> bool:
        """Neither a rule of this run nor a built-in one: a code of a built-in family (``RES01``)
        or a name. A code of another family may be a plugin's, loaded or not: left alone."""
        upper = wanted.upper()
        if upper in self.codes or upper in self.old_codes or wanted.lower() in self.names:
            return False  # a built-in rule this run did not select
        if _CODE_SHAPE.match(upper):
            return upper.rstrip("0123456789") in self.prefixes
        return True

    def closest(self, wanted: str) -> str | None:
        import difflib

        upper = wanted.upper()
        if not _CODE_SHAPE.match(upper):
            found = difflib.get_close_matches(wanted.lower(), self.names, n=1, cutoff=0.75)
            return found[0] if found else None
        family = upper.rstrip("0123456789")
        number = int(upper[len(family) :])
        same_number = [c for c in self.codes if c.startswith(family) and c[len(family) :].isdigit()]
        for code in same_number:  # RES01 -> RES001, not RES010
            if int(code[len(family) :]) == number:
                return code
        found = difflib.get_close_matches(upper, same_number or self.codes, n=1, cutoff=0.8)
        return found[0] if found else None


_CODE_SHAPE = re.compile(r"^[A-Z][A-Z0-9]*[0-9]$")


def _crash_error(relpath: str, crash: RuleCrash) -> ScanError:
    return ScanError(relpath, str(crash), crash.line)


def _line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1
