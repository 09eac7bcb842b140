"""The vocabulary every layer shares: severities, categories, findings, rules and configuration.

This module imports nothing from the rest of prodready; every other layer imports it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # engine types the model names; it never imports the engine at run time
    from prodready.engine.checks import Check, ProjectCollector
    from prodready.engine.module_record import ModuleRecord

DOCS_URL = "https://github.com/prodready/prodready/blob/main/docs/rules.md"


class _Ordered(enum.Enum):
    """An enum whose members compare by declaration order (first = most severe)."""

    @property
    def rank(self) -> int:
        return _RANKS[type(self)][self]

    def __lt__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Ordered)
        # Lower rank = more severe; "a < b" reads "a is less severe than b".
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:
        return self == other or self < other

    def __gt__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Ordered)
        return self.rank < other.rank

    def __ge__(self, other: object) -> bool:
        return self == other or self > other

    def __str__(self) -> str:
        return str(self.value)


class Severity(_Ordered):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Confidence(_Ordered):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


_RANKS: dict[type[_Ordered], dict[Any, int]] = {
    Severity: {member: index for index, member in enumerate(Severity)},
    Confidence: {member: index for index, member in enumerate(Confidence)},
}


class Category(enum.Enum):
    RESILIENCE = "resilience"
    ERROR_HANDLING = "error-handling"
    SECURITY = "security"
    OBSERVABILITY = "observability"
    DATA_ACCESS = "data-access"
    CONCURRENCY = "concurrency"
    STATE = "state"
    API_CONTRACT = "api-contract"
    CONFIGURATION = "configuration"
    DEPLOYMENT = "deployment"
    DEPENDENCIES = "dependencies"
    PERFORMANCE = "performance"

    def __str__(self) -> str:
        return str(self.value)


class Role(enum.Enum):
    """What a file is for, which decides the rules that judge it (``prodready.engine.roles``
    detects it; ``[tool.prodready.roles]`` overrides it). Only ``service`` code runs in
    production; a rule declares the roles it applies to."""

    SERVICE = "service"
    TEST = "test"  # test suites, test settings and helpers
    FIXTURE = "fixture"  # sample inputs: test data, deliberately bad samples for another tool
    EXAMPLE = "example"  # documentation, tutorials, examples, demos, sandboxes
    SCRIPT = "script"  # command-line tools, one-off and maintenance scripts, container probes
    MANAGEMENT_COMMAND = "management-command"  # Django management commands
    MIGRATION = "migration"  # schema and data migrations
    DEV_INFRA = "dev-infra"  # Dockerfiles, compose files, settings used only by tests, CI, builds
    VENDORED = "vendored"  # third-party code copied into the tree

    def __str__(self) -> str:
        return str(self.value)


class FileKind(enum.Enum):
    """What a discovered file is, which decides the parser and the rules it gets."""

    PYTHON = "python"
    DOCKERFILE = "dockerfile"
    KUBERNETES = "kubernetes"
    COMPOSE = "compose"
    REQUIREMENTS = "requirements"
    PYPROJECT = "pyproject"
    SETUP_CFG = "setup-cfg"
    PIPFILE = "pipfile"
    LOCKFILE = "lockfile"  # uv.lock, poetry.lock, Pipfile.lock, pdm.lock
    # Not a file: rules over the facts of every scanned file, run after the scan.
    PROJECT = "project"

    def __str__(self) -> str:
        return str(self.value)


E = TypeVar("E", bound=enum.Enum)


def parse_enum(kind: type[E], value: object, what: str) -> E:
    """Turn user text into an enum member, or raise ValueError naming the allowed values."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        for member in kind:
            if member.value == value.strip().lower():
                return member
    allowed = ", ".join(str(m.value) for m in kind)
    raise ValueError(f"{what} must be one of {allowed}; got {value!r}")


@dataclass(slots=True)
class Finding:
    """One problem found at one place."""

    rule: str
    name: str
    category: Category
    severity: Severity
    confidence: Confidence
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    message: str
    fingerprint: str
    cwe: int | None = None
    fix: str | None = None
    docs: str = DOCS_URL
    snippet: str = ""
    # What the file is for (``Role`` value): the engine drops findings of rules that do not
    # apply to it, so a report says which role each finding it keeps was judged in.
    role: str | None = None
    # Project facts (``ProjectFact.name``) any of which makes the finding moot: the runner drops
    # it when one holds in the service code of its project. Not part of reports.
    unless: tuple[str, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "name": self.name,
            "category": self.category.value,
            "severity": self.severity.value,
            "confidence": self.confidence.value,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "message": self.message,
            "fingerprint": self.fingerprint,
            "cwe": self.cwe,
            "fix": self.fix,
            "docs": self.docs,
            "snippet": self.snippet,
            "role": self.role,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            rule=data["rule"],
            name=data["name"],
            category=Category(data["category"]),
            severity=Severity(data["severity"]),
            confidence=Confidence(data["confidence"]),
            path=data["path"],
            line=data["line"],
            column=data["column"],
            end_line=data["end_line"],
            end_column=data["end_column"],
            message=data["message"],
            fingerprint=data["fingerprint"],
            cwe=data.get("cwe"),
            fix=data.get("fix"),
            docs=data.get("docs", DOCS_URL),
            snippet=data.get("snippet", ""),
            role=_role_value(data.get("role")),
            unless=tuple(data.get("unless", ())),
        )

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.rule)


@dataclass(frozen=True, slots=True)
class ProjectFact:
    """A fact one module establishes for its whole project (``a module installs a default
    timeout for every requests call``): a rule records it during the walk
    (``PythonContext.establish``) and names it on findings it would make moot
    (``ctx.report(..., unless=FACT)``); after every file is analysed the runner drops those
    findings when a service module of their project established it."""

    name: str  # stable: stored in the cache with the module and the findings
    summary: str


ALL_ROLES = frozenset(Role)
SERVICE_ONLY = frozenset({Role.SERVICE})
# What each category judges by default. Production-safety rules judge the service only: a test,
# a migration or a CI image never serves traffic. Security rules judge the code that handles
# real data or credentials outside the service too -- scripts and management commands run
# against production databases with operator privileges (an injection there is as real).
# Dependency rules judge manifests and every import: a test's import needs a declared package.
DEFAULT_ROLES: dict[Category, frozenset[Role]] = {
    Category.SECURITY: frozenset({Role.SERVICE, Role.SCRIPT, Role.MANAGEMENT_COMMAND}),
    Category.DEPENDENCIES: ALL_ROLES,
}


def _role_value(value: object) -> str | None:
    """A stored role, or None (then it is judged again) for anything that is not one."""
    return value if isinstance(value, str) and value in _ROLE_VALUES else None


_ROLE_VALUES = frozenset(role.value for role in Role)


@dataclass(frozen=True, slots=True)
class ScanError:
    """A file that could not be analysed; the scan carries on without it."""

    path: str
    message: str
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "message": self.message, "line": self.line}


RULE_CODE = re.compile(r"^[A-Z][A-Z0-9]{0,3}[A-Z][0-9]{3}$")  # RES001, K8S001
RULE_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class RuleMeta:
    """What a report says about a rule (no check): a run's result carries these for the rules
    it ran, so reports never rebuild a registry to describe them."""

    code: str
    name: str
    category: Category
    severity: Severity
    summary: str
    docs: str
    confidence: Confidence = Confidence.HIGH
    cwe: int | None = None
    fix: str | None = None
    pack: str = "builtin"
    redirected_from: tuple[str, ...] = ()  # the codes it had before it was renumbered

    @property
    def docs_url(self) -> str:
        return f"{DOCS_URL}#{self.code.lower()}-{self.name}"


@dataclass(frozen=True, eq=False)
class Rule:
    """A check's declared metadata plus the function that performs it.

    ``check`` is called by the engine: for Python rules with ``(node, ctx)`` for every node of a
    type in ``nodes`` and every call/attribute matching ``calls``/``attributes``; for other file
    kinds with ``(document, ctx)`` once per document; for project rules with ``(facts, ctx)``
    once per scan (the protocols of :mod:`prodready.engine.checks`, one per kind).
    """

    code: str
    name: str
    category: Category
    severity: Severity
    summary: str
    docs: str
    check: Check
    kind: FileKind | None = FileKind.PYTHON  # None: engine events of every file kind
    confidence: Confidence = Confidence.HIGH
    cwe: int | None = None
    fix: str | None = None
    nodes: tuple[type, ...] = ()
    calls: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    pack: str = "builtin"
    # The roles of the files the rule judges (None: its category's default, see
    # ``prodready.engine.roles.DEFAULT_ROLES``); findings in files of other roles are dropped.
    roles: frozenset[Role] | None = None
    # Project rules only: called like a Python check for ``nodes`` during the walk, returns the
    # ``(name, line)`` evidence to record for the rule (see ``project_rule``).
    collect: ProjectCollector[Any] | None = None
    # The codes the rule had before it was renumbered, oldest first (filled in by the registry
    # from its pack's redirect table): selectors, suppressions and baselines naming them still
    # mean this rule.
    redirected_from: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not RULE_CODE.match(self.code):
            raise ValueError(f"rule code {self.code!r} must look like ABC123 or K8S123")
        if not RULE_NAME.match(self.name):
            raise ValueError(f"rule name {self.name!r} must be kebab-case")
        if self.kind is FileKind.PYTHON and not (self.nodes or self.calls or self.attributes):
            raise ValueError(f"rule {self.code} subscribes to no nodes, calls or attributes")

    @property
    def docs_url(self) -> str:
        return f"{DOCS_URL}#{self.code.lower()}-{self.name}"

    @property
    def fingerprint_code(self) -> str:
        """The code a finding's fingerprint is made of: the one the rule was first published
        under, so that a renumbered rule's findings keep their fingerprints (a baseline or a
        code-scanning alert made before the move still recognises them)."""
        return self.redirected_from[0] if self.redirected_from else self.code

    @property
    def applies_to(self) -> frozenset[Role]:
        """The roles of the files this rule judges: its own declaration, else its category's."""
        if self.roles is not None:
            return self.roles
        if self.kind is None:  # engine events (suppression comments) exist in every file
            return ALL_ROLES
        return DEFAULT_ROLES.get(self.category, SERVICE_ONLY)

    @property
    def meta(self) -> RuleMeta:
        return RuleMeta(
            code=self.code,
            name=self.name,
            category=self.category,
            severity=self.severity,
            summary=self.summary,
            docs=self.docs,
            confidence=self.confidence,
            cwe=self.cwe,
            fix=self.fix,
            pack=self.pack,
            redirected_from=self.redirected_from,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "category": self.category.value,
            "severity": self.severity.value,
            "confidence": self.confidence.value,
            "kind": self.kind.value if self.kind is not None else "any",
            "summary": self.summary,
            "cwe": self.cwe,
            "fix": self.fix,
            "docs": self.docs,
            "docs_url": self.docs_url,
            "pack": self.pack,
            "roles": sorted(role.value for role in self.applies_to),
            "redirected_from": list(self.redirected_from),
        }


class ProdreadyError(Exception):
    """The one root of prodready's errors: a problem the user can fix, told in one message.

    The CLI turns any of these into ``prodready: error: <message>`` and exit code 2; any other
    exception escaping a command is a bug in prodready and exits 3. The tree:

    - ``ConfigError`` (here): a configuration file or option is wrong
      - ``PackLoadError`` (``engine.registry``): a rule pack cannot be loaded or clashes
    - ``UsageError`` (here): the request cannot be carried out (bad path, bad git ref)
      - ``GitUnavailable`` (``engine.git``): git is missing or too slow
    - ``DocumentError`` (``engine.documents``): a Dockerfile, YAML or TOML file cannot be parsed
    - ``DependencyError`` (``deps.model``): dependency data cannot be read
      - ``AdvisoriesUnavailable`` (``deps.model``), ``BadRecord`` (``deps.advisories``),
        ``UnsafeFile`` and ``TooLarge`` (``deps.files``)
    - ``ProbeError`` (``probe.model``): the probe cannot start or is misconfigured
    - ``GateError`` (``gate.model``): the gate cannot run or is misconfigured

    Internal control flow that never leaves its module (a rule crash recorded as a scan
    error, a fuzzing deadline, a SIGTERM unwinding like Ctrl-C) stays outside this tree;
    ``tests/cli/test_errors.py`` lists those and fails on any other exception class.
    """


class ConfigError(ProdreadyError):
    """The configuration (file or command line) is wrong; the message names the key.

    ``partial`` is what could be read of the file despite the errors, so that the rule
    selectors it names are checked in the same run and every mistake is reported at once.
    """

    def __init__(self, message: str, partial: Config | None = None) -> None:
        super().__init__(message)
        self.partial = partial


class UsageError(ProdreadyError):
    """The user asked for something that cannot be done (bad path, bad git ref, ...)."""


@dataclass(frozen=True, slots=True)
class Profile:
    """The production context a service runs in; rules may raise or lower severity with it."""

    runtime: str | None = None  # kubernetes | serverless | vm | paas
    traffic: str | None = None  # low | medium | high
    handles_payments: bool = False
    data: str | None = None  # none | internal | pii | phi | pci
    exposure: str | None = None  # public | internal
    project_type: str | None = None  # application | library (dependency pinning policy)

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "traffic": self.traffic,
            "handles-payments": self.handles_payments,
            "data": self.data,
            "exposure": self.exposure,
            "project-type": self.project_type,
        }

    @property
    def high_stakes(self) -> bool:
        """Money, sensitive data or heavy traffic: failures cost more than usual."""
        return self.handles_payments or self.traffic == "high" or self.data in {"pii", "phi", "pci"}


@dataclass(frozen=True, slots=True)
class DepsSettings:
    """How dependencies are validated: package index, advisories, network use."""

    online: bool = False  # ask the package index / OSV (``prodready deps`` turns it on)
    index_url: str | None = None  # default: $PIP_INDEX_URL, else https://pypi.org/simple
    advisory_db: str | None = None  # OSV directory or zip; default: $PRODREADY_ADVISORY_DB
    cache_ttl_hours: float = 24.0
    timeout_s: float = 10.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "online": self.online,
            "index-url": self.index_url,
            "advisory-db": self.advisory_db,
            "cache-ttl-hours": self.cache_ttl_hours,
            "timeout": self.timeout_s,
        }


@dataclass(frozen=True, slots=True)
class Config:
    """The effective configuration of a scan, after file and command line are merged."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_path_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    severity: tuple[tuple[str, Severity], ...] = ()
    fail_on: Severity = Severity.HIGH
    min_confidence: Confidence = Confidence.LOW
    exclude: tuple[str, ...] = ()
    respect_gitignore: bool = True
    roles: tuple[tuple[str, Role], ...] = ()  # glob -> role, over what detection says
    profile: Profile = field(default_factory=Profile)
    deps: DepsSettings = field(default_factory=DepsSettings)
    source: str | None = None  # the file the configuration came from

    def to_dict(self) -> dict[str, Any]:
        return {
            "select": list(self.select),
            "ignore": list(self.ignore),
            "per-path-ignores": {glob: list(rules) for glob, rules in self.per_path_ignores},
            "severity": {key: value.value for key, value in self.severity},
            "fail-on": self.fail_on.value,
            "min-confidence": self.min_confidence.value,
            "exclude": list(self.exclude),
            "respect-gitignore": self.respect_gitignore,
            "roles": {glob: role.value for glob, role in self.roles},
            "profile": self.profile.to_dict(),
            "deps": self.deps.to_dict(),
        }


@dataclass(slots=True)
class ScanStats:
    files_analyzed: int = 0
    cache_hits: int = 0
    jobs: int = 1
    duration_s: float = 0.0
    suppressed_by_baseline: int = 0
    outside_diff: int = 0
    outside_roles: int = 0  # findings of rules that do not apply to their file's role
    moot: int = 0  # findings a project fact established elsewhere made moot (``Finding.unless``)


@dataclass(slots=True)
class ScanResult:
    """Everything a scan produced; what every report format renders."""

    root: str
    files: int
    findings: list[Finding]
    errors: list[ScanError]
    rules: dict[str, Rule]
    config: Config
    stats: ScanStats = field(default_factory=ScanStats)
    facts: Mapping[str, ModuleRecord] = field(default_factory=dict)  # loaded on first access
    # What project rules published for reports (e.g. the dependency inventory).
    artifacts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. "advisories unavailable: ..."

    def by_severity(self) -> dict[str, int]:
        counts = {severity.value: 0 for severity in Severity}
        for finding in self.findings:
            counts[finding.severity.value] += 1
        return counts

    def by_category(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for finding in self.findings:
            counts[finding.category.value] = counts.get(finding.category.value, 0) + 1
        return dict(sorted(counts.items()))

    def failing(self, threshold: Severity) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity >= threshold]


@dataclass(frozen=True)
class DependencyReport:
    """What ``prodready deps`` reports beside the findings: the dependency inventory the
    dependency rules published (one JSON object per distribution, paths as reported) and the
    run's notes (what could not be verified)."""

    dependencies: tuple[Mapping[str, Any], ...]
    notes: tuple[str, ...]

    @classmethod
    def of(cls, result: ScanResult) -> DependencyReport:
        return cls(tuple(result.artifacts.get("dependencies", ())), tuple(result.notes))
