"""Rule packs, the decorators that declare rules, and rule selection.

Built-in rules and third-party house rules register the same way: a :class:`RulePack` exposed
through the ``prodready.rules`` entry-point group.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import ModuleType
from typing import Any

from prodready.model import (
    Category,
    Confidence,
    Config,
    ConfigError,
    FileKind,
    Rule,
    Severity,
)

ENTRY_POINT_GROUP = "prodready.rules"
CODE_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,3}[A-Za-z][0-9]{0,3}$")
BUILTIN_PACK_REF = "prodready.rules:BUILTIN_PACK"

Check = Callable[..., None]


def _docs_of(check: Check) -> str:
    return inspect.cleandoc(check.__doc__ or "")


def _declaring(**metadata: Any) -> Callable[[Check], Rule]:
    """The decorator every rule kind shares: metadata plus the check, whose docstring is the
    rule's documentation."""

    def decorate(check: Check) -> Rule:
        return Rule(docs=_docs_of(check), check=check, **metadata)

    return decorate


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
) -> Callable[[Check], Rule]:
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
) -> Callable[[Check], Rule]:
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
    collect: Callable[..., Any] | None = None,
    confidence: Confidence = Confidence.MEDIUM,
    cwe: int | None = None,
    fix: str | None = None,
) -> Callable[[Check], Rule]:
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
        calls=tuple(calls),
        nodes=tuple(nodes),
        collect=collect,
    )


class RulePack:
    """A named collection of rules, loaded lazily from modules or given directly.

    Third parties expose one through the ``prodready.rules`` entry-point group::

        [project.entry-points."prodready.rules"]
        acme = "acme_rules:PACK"   # PACK = RulePack.from_modules("acme", "acme_rules.checks")

    A pack whose distribution lies in the working directory or the scanned tree (a committed
    ``*.egg-info``) rather than in a site directory is not loaded unless
    ``PRODREADY_TRUST_LOCAL_PLUGINS=1``: scanning a repository must not run its code.
    """

    def __init__(
        self, name: str, rules: Iterable[Rule] = (), modules: Sequence[str] = (), version: str = ""
    ) -> None:
        self.name = name
        self.version = version
        self._given = tuple(rules)
        self._modules = tuple(modules)
        self._loaded: tuple[Rule, ...] | None = None

    @classmethod
    def from_modules(cls, name: str, *modules: str, version: str = "") -> RulePack:
        return cls(name, modules=modules, version=version)

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


def _third_party_packs_installed() -> bool:
    """Whether any installed distribution declares a pack besides the built-in one.

    Importing ``importlib.metadata`` costs more than a small scan; this pre-check reads the
    ``entry_points.txt`` files directly so the common case (no house rules) stays fast.
    """
    for directory in sys.path:
        try:
            names = os.listdir(directory or ".")
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(directory or ".", name, "entry_points.txt"), "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            if ENTRY_POINT_GROUP not in text:
                continue
            section = text.split(f"[{ENTRY_POINT_GROUP}]", 1)[-1].split("\n[", 1)[0]
            for line in section.splitlines():
                value = line.partition("=")[2].strip().replace(" ", "")
                if value and value != BUILTIN_PACK_REF:
                    return True
    return False


TRUST_LOCAL_PLUGINS_ENV = "PRODREADY_TRUST_LOCAL_PLUGINS"


def _installed_locations() -> list[str]:
    """The site directories of the running interpreter: what was installed on purpose."""
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    found = [paths.get("purelib", ""), paths.get("platlib", "")]
    try:
        found.extend(site.getsitepackages())
        found.append(site.getusersitepackages())
    except AttributeError:  # a virtualenv's old site.py lacks them
        pass
    return [os.path.realpath(path) for path in found if path]


def _within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _local_distribution(entry: Any, untrusted: Sequence[str], installed: Sequence[str]) -> bool:
    """The entry point's distribution lies in the working directory (or another untrusted
    root) rather than in a site directory: ``python -m prodready`` puts the working directory
    on ``sys.path``, so a scanned repository's committed ``*.egg-info`` would be imported."""
    dist = entry.dist
    if dist is None:
        return False
    try:
        location = os.path.realpath(str(dist.locate_file("")))
    except (OSError, NotImplementedError, ValueError):
        return False
    if any(_within(location, site_dir) for site_dir in installed):
        return False
    return any(_within(location, root) for root in untrusted)


def _entry_point_packs(
    untrusted_roots: Sequence[str] = (), skipped: list[str] | None = None
) -> Iterator[tuple[str, RulePack]]:
    if not _third_party_packs_installed():
        return
    from importlib.metadata import entry_points

    trust_local = os.environ.get(TRUST_LOCAL_PLUGINS_ENV, "") not in {"", "0"}
    untrusted = [os.path.realpath(os.getcwd()), *(os.path.realpath(r) for r in untrusted_roots)]
    installed = _installed_locations()
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.value.replace(" ", "") == BUILTIN_PACK_REF:
            continue
        if not trust_local and _local_distribution(entry, untrusted, installed):
            if skipped is not None:
                skipped.append(
                    f"rule pack {entry.name!r} ({entry.value}) was not loaded: it is declared "
                    "inside the working directory or the scanned tree, not installed (set "
                    f"{TRUST_LOCAL_PLUGINS_ENV}=1 to load it)"
                )
            continue
        try:
            loaded: Any = entry.load()
        except Exception as exc:  # a broken third-party pack must not take the scan down
            raise PackLoadError(
                f"rule pack {entry.name!r} ({entry.value}) failed to load: {exc}"
            ) from exc
        if isinstance(loaded, ModuleType):
            loaded = RulePack(entry.name, rules=rules_in(loaded))
        elif not isinstance(loaded, RulePack):
            try:
                loaded = RulePack(entry.name, rules=list(loaded))
            except TypeError as exc:
                raise PackLoadError(
                    f"rule pack {entry.name!r} ({entry.value}) is neither a RulePack, a module "
                    "nor an iterable of rules"
                ) from exc
        if not loaded.version and entry.dist is not None:
            loaded.version = entry.dist.version
        yield entry.name, loaded


def load_packs(
    *,
    plugins: bool = True,
    untrusted_roots: Sequence[str] = (),
    skipped: list[str] | None = None,
) -> list[RulePack]:
    """The built-in pack plus every installed pack of the ``prodready.rules`` group (packs
    declared under the working directory or ``untrusted_roots`` only when the user opts in)."""
    from prodready.rules import BUILTIN_PACK

    packs = [BUILTIN_PACK]
    if plugins:
        packs.extend(pack for _, pack in _entry_point_packs(untrusted_roots, skipped))
    return packs


class Registry:
    """All known rules, by code, with selector resolution (code, prefix, name, category, ALL)."""

    def __init__(self, packs: Iterable[RulePack]) -> None:
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
        self._by_name = by_name
        self.notes: list[str] = []  # rule packs that were found but not loaded, and why

    @classmethod
    def default(cls, *, plugins: bool = True, untrusted_roots: Sequence[str] = ()) -> Registry:
        skipped: list[str] = []
        registry = cls(
            load_packs(plugins=plugins, untrusted_roots=untrusted_roots, skipped=skipped)
        )
        registry.notes = skipped
        return registry

    def __iter__(self) -> Iterator[Rule]:
        return iter(sorted(self.rules.values(), key=lambda rule: rule.code))

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, code_or_name: str) -> Rule | None:
        key = code_or_name.strip()
        return self.rules.get(key.upper()) or self._by_name.get(key.lower())

    def matches(self, selector: str, rule: Rule) -> bool:
        text = selector.strip()
        if text.upper() == "ALL":
            return True
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
    from dataclasses import replace

    return replace(rule, pack=pack)
