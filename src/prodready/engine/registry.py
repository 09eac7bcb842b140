"""Rule packs, the decorators that declare rules, and rule selection.

Built-in rules and third-party house rules register the same way: a :class:`RulePack` exposed
through the ``prodready.rules`` entry-point group. Which packs a run gets is decided by the
composition root, :mod:`prodready.catalog`; this module never imports the rules.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from types import ModuleType
from typing import Any, Protocol, TypeVar, cast

from prodready.engine.checks import (
    AnyCheck,
    Check,
    DocumentCheck,
    ProjectCheck,
    ProjectCollector,
    PythonCheck,
)
from prodready.model import (
    Category,
    Confidence,
    Config,
    ConfigError,
    FileKind,
    Role,
    Rule,
    Severity,
)

CODE_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,3}[A-Za-z][0-9]{0,3}$")

_NodeT = TypeVar("_NodeT", bound=ast.AST)


# Each decorator takes the check of its rule kind (prodready.engine.checks): a rule function
# with the wrong arguments or a return value is a type error where it is declared.
class PythonRuleDecorator(Protocol):
    """What ``python_rule(...)`` returns: it takes a Python check whose node parameter is an
    AST node type (``def check(node: ast.Call, ctx: PythonContext) -> None``)."""

    def __call__(self, check: PythonCheck[_NodeT], /) -> Rule: ...


DocumentRuleDecorator = Callable[[DocumentCheck[Any]], Rule]
ProjectRuleDecorator = Callable[[ProjectCheck], Rule]


def _docs_of(check: AnyCheck) -> str:
    return inspect.cleandoc(check.__doc__ or "")


def _declaring(**metadata: Any) -> Callable[[AnyCheck], Rule]:
    """The decorator every rule kind shares: metadata plus the check, whose docstring is the
    rule's documentation."""

    def decorate(check: AnyCheck) -> Rule:
        # The public decorators took the check of their own kind (``metadata["kind"]``): the
        # engine calls it only with that kind's subject and context.
        return Rule(docs=_docs_of(check), check=cast(Check, check), **metadata)

    return decorate


def _roles(code: str, roles: Iterable[Role] | None) -> frozenset[Role] | None:
    """The roles a rule declares (None: its category's default, ``Rule.applies_to``)."""
    if roles is None:
        return None
    declared = frozenset(roles)
    if not declared or not all(isinstance(role, Role) for role in declared):
        raise ValueError(f"rule {code}: roles must be a non-empty set of prodready Role values")
    return declared


def python_rule(
    *,
    code: str,
    name: str,
    category: Category,
    severity: Severity,
    summary: str,
    nodes: Sequence[type] = (),
    calls: Sequence[str] = (),
    attributes: Sequence[str] = (),
    confidence: Confidence = Confidence.HIGH,
    cwe: int | None = None,
    fix: str | None = None,
    roles: Iterable[Role] | None = None,
) -> PythonRuleDecorator:
    """Declare a Python rule; the decorated function's docstring is its documentation.

    ``nodes``: AST node classes (or the engine events ``FunctionEnd``/``ModuleEnd``) to be called
    for. ``calls``: fully qualified callee names, ``"module.*"`` for any callee under a module, or
    ``"*.method"`` for any method of that name. ``attributes``: fully qualified attribute reads.
    """

    return _declaring(
        code=code,
        name=name,
        category=category,
        severity=severity,
        summary=summary,
        kind=FileKind.PYTHON,
        confidence=confidence,
        cwe=cwe,
        fix=fix,
        roles=_roles(code, roles),
        nodes=tuple(nodes),
        calls=tuple(calls),
        attributes=tuple(attributes),
    )


def file_rule(
    *,
    kind: FileKind | None,
    code: str,
    name: str,
    category: Category,
    severity: Severity,
    summary: str,
    confidence: Confidence = Confidence.HIGH,
    cwe: int | None = None,
    fix: str | None = None,
    roles: Iterable[Role] | None = None,
) -> DocumentRuleDecorator:
    """Declare a rule over a whole non-Python document (Dockerfile, manifest, requirements...).

    ``kind=None`` declares a rule over engine events common to every file kind (suppression
    comments); its check gets ``(event, FileContext)``.
    """

    return _declaring(
        code=code,
        name=name,
        category=category,
        severity=severity,
        summary=summary,
        kind=kind,
        confidence=confidence,
        cwe=cwe,
        fix=fix,
        roles=_roles(code, roles),
    )


def project_rule(
    *,
    code: str,
    name: str,
    category: Category,
    severity: Severity,
    summary: str,
    calls: Sequence[str] = (),
    nodes: Sequence[type] = (),
    collect: ProjectCollector[Any] | None = None,
    confidence: Confidence = Confidence.MEDIUM,
    cwe: int | None = None,
    fix: str | None = None,
    roles: Iterable[Role] | None = None,
) -> ProjectRuleDecorator:
    """Declare a rule over the whole scanned project, run once after every file was analysed.

    Evidence is gathered during the single walk of every Python file and cached with the
    file's facts, so the check -- called with ``(ProjectFacts, ProjectContext)`` -- never
    re-reads a file: ``calls`` (same patterns as Python rules) record ``(qualified name,
    line)``; ``collect(node, ctx)`` is called like a Python check for every node of ``nodes``
    (AST classes, or ``ModuleEnd`` when the module's facts are complete) and returns
    ``(name, line)`` pairs -- free text that encodes what the check needs (a path, a header).
    """
    if collect is None and nodes:
        raise ValueError(f"project rule {code} lists nodes but no collect function")
    if any(issubclass(node, ast.Call) for node in nodes):
        raise ValueError(f"project rule {code}: subscribe to calls with calls=, not nodes=")

    return _declaring(
        code=code,
        name=name,
        category=category,
        severity=severity,
        summary=summary,
        kind=FileKind.PROJECT,
        confidence=confidence,
        cwe=cwe,
        fix=fix,
        roles=_roles(code, roles),
        calls=tuple(calls),
        nodes=tuple(nodes),
        collect=collect,
    )


class RulePack:
    """A named collection of rules, loaded lazily from modules or given directly.

    Third parties expose one through the ``prodready.rules`` entry-point group::

        [project.entry-points."prodready.rules"]
        acme = "acme_rules:PACK"   # PACK = RulePack.from_modules("acme", "acme_rules.checks")

    A pack declared in the working directory or the scanned tree is loaded only on request (see
    :mod:`prodready.catalog`).

    ``redirects`` maps a code the pack no longer uses to the code of the rule that took its
    place (Ruff's rule redirects): a renumbered rule keeps answering to its old code in
    selectors, suppression comments, baselines and ``prodready explain``. An old code is never
    given to another rule.
    """

    def __init__(
        self,
        name: str,
        rules: Iterable[Rule] = (),
        modules: Sequence[str] = (),
        version: str = "",
        redirects: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.redirects = dict(redirects or {})
        self._given = tuple(rules)
        self._modules = tuple(modules)
        self._loaded: tuple[Rule, ...] | None = None

    @classmethod
    def from_modules(
        cls,
        name: str,
        *modules: str,
        version: str = "",
        redirects: Mapping[str, str] | None = None,
    ) -> RulePack:
        return cls(name, modules=modules, version=version, redirects=redirects)

    @property
    def rules(self) -> tuple[Rule, ...]:
        if self._loaded is None:
            collected = list(self._given)
            for module_name in self._modules:
                collected.extend(rules_in(importlib.import_module(module_name)))
            self._loaded = tuple(collected)
        return self._loaded


def rules_in(module: ModuleType) -> Iterator[Rule]:
    """The Rule objects a module defines, in definition order."""
    for value in vars(module).values():
        if isinstance(value, Rule):
            yield value


class PackLoadError(ConfigError):
    """A rule pack could not be loaded or conflicts with another."""


class Registry:
    """All known rules, by code, with selector resolution (code, prefix, name, category, ALL)."""

    def __init__(
        self, packs: Iterable[RulePack], *, loader: Callable[[], Registry] | None = None
    ) -> None:
        # How to build this registry again in a spawned worker process (a picklable callable,
        # given by the composition root, prodready.catalog); None for a registry built by hand.
        self.loader = loader
        packs = list(packs)  # read twice: their rules, then their redirects
        self.rules: dict[str, Rule] = {}
        self.pack_versions: dict[str, str] = {}
        by_name: dict[str, Rule] = {}
        for pack in packs:
            self.pack_versions[pack.name] = pack.version
            for rule in pack.rules:
                rule = _in_pack(rule, pack.name)
                clash = self.rules.get(rule.code) or by_name.get(rule.name)
                if clash is not None:
                    raise PackLoadError(
                        f"rule {rule.code} ({rule.name}) of pack {pack.name!r} clashes with "
                        f"{clash.code} ({clash.name}) of pack {clash.pack!r}"
                    )
                self.rules[rule.code] = rule
                by_name[rule.name] = rule
        # Old code -> the code of the rule that answers to it now.
        self.redirects: dict[str, str] = {}
        for pack in packs:
            for old, new in pack.redirects.items():
                self._redirect(pack.name, old.upper(), new.upper(), by_name)
        self._by_name = by_name
        self.notes: list[str] = []  # rule packs that were found but not loaded, and why

    def _redirect(self, pack: str, old: str, new: str, by_name: dict[str, Rule]) -> None:
        """Record that ``old`` now means rule ``new`` (its ``redirected_from`` says so too)."""
        target = self.rules.get(new)
        reason = None
        if old in self.rules:
            reason = f"rule {old} still exists"
        elif old in self.redirects:
            reason = f"{old} is already redirected to {self.redirects[old]}"
        elif target is None:
            reason = f"no rule has the code {new}"
        if reason is not None or target is None:
            raise PackLoadError(f"rule pack {pack!r} redirects {old} to {new}, but {reason}")
        self.redirects[old] = new
        moved = replace(target, redirected_from=(*target.redirected_from, old))
        self.rules[new] = moved
        by_name[moved.name] = moved

    def __iter__(self) -> Iterator[Rule]:
        return iter(sorted(self.rules.values(), key=lambda rule: rule.code))

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, code_or_name: str) -> Rule | None:
        key = code_or_name.strip()
        code = self.redirects.get(key.upper(), key.upper())
        return self.rules.get(code) or self._by_name.get(key.lower())

    def redirected(self, selector: str) -> str | None:
        """The code that replaced ``selector`` when it is an old rule code, else None."""
        return self.redirects.get(selector.strip().upper())

    def matches(self, selector: str, rule: Rule) -> bool:
        text = selector.strip()
        if text.upper() == "ALL":
            return True
        # Only the whole old code is redirected: a prefix (DAT) or a category selects the rules
        # that have it today, as Ruff's redirects do.
        if (new := self.redirects.get(text.upper())) is not None:
            return rule.code == new
        if text.lower() in {c.value for c in Category}:
            return rule.category.value == text.lower()
        if text.lower() == rule.name:
            return True
        return bool(CODE_PREFIX.match(text)) and rule.code.startswith(text.upper())

    def resolve(self, selector: str, where: str) -> set[str]:
        """The rule codes a selector names; an unknown selector is a configuration error."""
        found = {rule.code for rule in self.rules.values() if self.matches(selector, rule)}
        if not found:
            raise ConfigError(
                f"{where}: {selector!r} names no rule (use a code like RES001, a code prefix "
                "like RES, a rule name, a category or ALL; `prodready rules` lists them)"
            )
        return found

    def select(self, config: Config) -> list[Rule]:
        """The rules a configuration enables, validating every selector it uses."""
        selected: set[str] = set()
        for selector in config.select or ("ALL",):
            selected |= self.resolve(selector, "select")
        for selector in config.ignore:
            selected -= self.resolve(selector, "ignore")
        for _, selectors in config.per_path_ignores:
            for selector in selectors:
                self.resolve(selector, "per-path-ignores")
        for selector, _ in config.severity:
            self.resolve(selector, "severity")
        return [self.rules[code] for code in sorted(selected)]

    def fingerprint(self, rules: Iterable[Rule]) -> str:
        """Identifies an effective rule set, for cache keys."""
        digest = hashlib.blake2b(digest_size=12)
        for rule in rules:
            digest.update(f"{rule.code}:{rule.pack}:{self.pack_versions.get(rule.pack)};".encode())
        return digest.hexdigest()


def _in_pack(rule: Rule, pack: str) -> Rule:
    if rule.pack == pack:
        return rule
    return replace(rule, pack=pack)
