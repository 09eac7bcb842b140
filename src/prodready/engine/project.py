"""Project-level rules: run once per scan over the facts of every analysed file.

Per-file facts (imports, routes, frameworks, the evidence calls project rules subscribed to)
are computed during the single walk of each file and cached with its findings, so project rules
cost no parsing, also on a warm cache. Under ``--diff`` they see every file's facts too (the
runner takes the unchanged files' from the cache) and only their findings on changed lines stay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from prodready.engine.module_record import (
    ModuleRecord,
    RouteRecord,
    Values,
    flag_value,
    text_value,
)
from prodready.model import Confidence, Config, FileKind, Rule, Severity

# The file names a service's application object is usually defined in, the most usual first:
# ``prodready init`` reads them first, and project rules report at an app defined in one of them
# before any other.
ENTRY_FILE_NAMES = (
    "main.py",
    "app.py",
    "asgi.py",
    "wsgi.py",
    "server.py",
    "api.py",
    "application.py",
)


class Evidence(NamedTuple):
    """A :class:`Mark` a rule collected, with the path of the module it was found in (a named
    tuple: project rules ask for thousands of them on every scan, warm or cold)."""

    path: str
    name: str
    line: int
    kind: str = ""
    values: Values = ()

    def text(self, key: str) -> str:
        """The string detail ``key`` ("" when absent)."""
        return text_value(self.values, key)

    def flag(self, key: str) -> bool:
        """The detail ``key`` taken as a yes/no (False when absent)."""
        return flag_value(self.values, key)


@dataclass(slots=True)
class ProjectFacts:
    """Facts of every analysed Python file, plus the other files the scan saw."""

    root: Path
    modules: dict[str, ModuleRecord]  # by relpath
    other_files: dict[str, FileKind] = field(default_factory=dict)
    _memo: dict[str, Any] = field(default_factory=dict)
    # What report paths start with before ``root``'s own paths (see ``project_facts``).
    report_prefix: str = ""

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """A result several project rules share (computed by the first that asks)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def service_modules(self) -> Iterator[tuple[str, ModuleRecord]]:
        """Modules that are neither tests nor documentation examples."""
        for path, facts in sorted(self.modules.items()):
            if not facts.is_test and not facts.is_example:
                yield path, facts

    def module_name(self, path: str) -> str:
        """The dotted name of the module at ``path`` ("" when it is not a scanned module)."""
        facts = self.modules.get(path)
        return facts.module if facts is not None else ""

    def evidence(self, code: str, *, include_tests: bool = False) -> list[Evidence]:
        """What rule ``code`` collected (the calls it subscribed to, what its collector
        returned) across the project, in path order."""
        found: list[Evidence] = []
        for path, facts in sorted(self.modules.items()):
            if not include_tests and (facts.is_test or facts.is_example):
                continue
            for mark in facts.evidence.get(code, ()):
                found.append(Evidence(path, mark.name, mark.line, mark.kind, mark.values))
        return found

    def routes(self) -> Iterator[tuple[str, RouteRecord]]:
        for path, facts in self.service_modules():
            for route in facts.routes:
                yield path, route

    def imports(self, *prefixes: str) -> list[Evidence]:
        """Imports of any of the modules (or their submodules) in service code."""
        found: list[Evidence] = []
        for path, facts in self.service_modules():
            for item in facts.imports:
                module = item.module
                if any(module == p or module.startswith(p + ".") for p in prefixes):
                    found.append(Evidence(path, module, item.line))
        return found

    def files_of_kind(self, kind: FileKind) -> list[str]:
        return sorted(path for path, k in self.other_files.items() if k is kind)


@dataclass(slots=True)
class _Report:
    rule: Rule
    path: str
    line: int
    message: str
    fix: str | None
    severity: Severity | None
    confidence: Confidence | None


class ProjectContext:
    """What a project rule sees besides the facts: the configuration (and profile), the cache
    directory, a way to report, and a way to publish artifacts and notes for the reports."""

    def __init__(
        self,
        facts: ProjectFacts,
        config: Config,
        cache_dir: Path | None = None,
        *,
        result_cache: bool = False,
    ) -> None:
        self.facts = facts
        self.config = config
        self.profile = config.profile
        self.cache_dir = cache_dir
        # Where facts about the environment (the installed distributions) may be kept between
        # scans: only when the result cache is on, so ``--no-cache`` reuses nothing.
        self.warm_cache_dir = cache_dir if result_cache else None
        self.rule: Rule | None = None
        self.reports: list[_Report] = []
        self.artifacts: dict[str, Any] = {}
        self.notes: list[str] = []

    def publish(self, key: str, value: Any) -> None:
        """Hand a result to the reports (``prodready deps --format json`` lists dependencies)."""
        self.artifacts[key] = value

    def note(self, message: str) -> None:
        """Something the user must know about the scan itself ("advisories unavailable")."""
        if message not in self.notes:
            self.notes.append(message)

    def report(
        self,
        path: str,
        line: int,
        message: str,
        *,
        fix: str | None = None,
        severity: Severity | None = None,
        confidence: Confidence | None = None,
    ) -> None:
        """Report at a line of a scanned file (the app object, the main module...)."""
        assert self.rule is not None, "report() called outside a rule"
        self.reports.append(
            _Report(self.rule, path, max(line, 1), message, fix, severity, confidence)
        )


def project_facts(
    root: Path,
    modules: dict[str, ModuleRecord],
    other_files: dict[str, FileKind],
    prefix: str = "",
) -> ProjectFacts:
    """The facts of the project at ``prefix`` (a directory below ``root``, see
    ``pipeline.role_prefix``): rules see its paths relative to it, so that they judge tests,
    examples and manifests the same from any directory; findings are named from ``root``."""
    if not prefix:
        return ProjectFacts(root, modules, other_files)
    size = len(prefix)
    return ProjectFacts(
        root / prefix,
        {path[size:]: facts for path, facts in modules.items() if path.startswith(prefix)},
        {path[size:]: kind for path, kind in other_files.items() if path.startswith(prefix)},
        report_prefix=prefix,
    )
