"""Which declared distribution brings or provides what, beyond the project's own
declarations: the requirements of declared distributions (installed metadata, tables of extras
and companions), and which declared distributions' modules cannot be told here."""

from __future__ import annotations

from dataclasses import dataclass

from packaging.utils import canonicalize_name

from prodready.deps.declared import (
    COMPANIONS,
    ProjectView,
    guard_marks,
    in_runtime_code,
    optional_in_module,
)
from prodready.deps.environment import required_names
from prodready.deps.import_tables import EXTRA_REQUIRES, IMPORT_TABLE
from prodready.deps.manifests import project_dir
from prodready.deps.model import Declaration, ImportUse
from prodready.deps.popular import popularity_rank
from prodready.engine.project import ProjectFacts

# Distributions whose requirements the companion table knows (``boto3`` brings botocore...).
_COMPANION_PARENTS = frozenset(parent for parents in COMPANIONS.values() for parent in parents)


@dataclass(slots=True)
class BroughtAlong:
    """What the runtime declarations of a scope (and its parents) install with them."""

    by: dict[str, str]  # distribution -> the declared distribution that brings it
    # Declared runtime distributions that are not installed here and that no table knows:
    # what they require (and which modules they provide) is unknown.
    unread: list[Declaration]


def brought_along(view: ProjectView, scope: str) -> BroughtAlong:
    """The distributions the scope's runtime declarations bring, from the installed
    environment's ``Requires-Dist`` (transitively, with the declared extras), the package
    index's metadata, the dependency graph of the project's lock file, the table of extras of
    well-known distributions (``Django[argon2]`` -> argon2-cffi) and the companion table; and
    the declarations whose requirements none of them can tell."""
    cached: BroughtAlong | None = view.memo.get(("brought", scope))
    if cached is not None:
        return cached
    environment = view.resolver.environment
    by: dict[str, str] = {}
    unread: list[Declaration] = []
    seen: set[str] = set()
    for candidate in view.chain(scope):
        for declaration in view.by_scope.get(candidate, []):
            if not declaration.runtime or declaration.name in seen:
                continue
            seen.add(declaration.name)
            for extra in declaration.extras:
                for child in EXTRA_REQUIRES.get(declaration.name, {}).get(extra.lower(), ()):
                    by.setdefault(child, declaration.name)
                    for grandchild in environment.brings(child) or ():
                        by.setdefault(grandchild, declaration.name)
            closure = environment.brings(declaration.name, declaration.extras)
            if closure is None:
                closure = _from_index(view, declaration)
            if closure is not None:
                for child in sorted(closure):
                    by.setdefault(child, declaration.name)
                continue
            # The lock file's graph names what it requires (installed with it, whatever their
            # modules); which modules it and they provide stays unknown: it remains unread.
            for child in sorted(_from_lock(view, scope, declaration) or ()):
                by.setdefault(child, declaration.name)
            if declaration.name not in _COMPANION_PARENTS:
                unread.append(declaration)
    found = BroughtAlong(by, unread)
    view.memo[("brought", scope)] = found
    return found


def _from_index(view: ProjectView, declaration: Declaration) -> frozenset[str] | None:
    """What a declared distribution that is not installed requires, by the package index's
    metadata of its latest release (asked online, or cached by an earlier online run), with
    what those requirements bring in turn when they are installed here."""
    dependency = view.inventory.dependencies.get(declaration.name)
    info = dependency.index if dependency is not None else None
    if info is None or info.requires is None:
        return None
    direct = required_names(info.requires, declaration.extras)
    environment = view.resolver.environment
    found = set(direct)
    for child in direct:
        found.update(environment.brings(child) or ())
    return frozenset(found)


def _from_lock(view: ProjectView, scope: str, declaration: Declaration) -> frozenset[str] | None:
    """What a declared distribution that is not installed requires, transitively, by the
    dependency graph of the project's lock file (uv.lock, poetry.lock, pdm.lock: the resolver
    wrote down what each locked distribution requires), with the declared extras."""
    scopes = set(view.chain(scope))
    for path, graph in sorted(view.inventory.manifests.lock_requires.items()):
        if project_dir(path) not in scopes or declaration.name not in graph:
            continue
        found: set[str] = set()
        pending = [(declaration.name, tuple(e.lower() for e in declaration.extras))]
        while pending:
            name, extras = pending.pop()
            requires, by_extra = graph.get(name, (frozenset(), {}))
            children = set(requires)
            for extra in extras:
                children |= by_extra.get(extra, frozenset())
            for child in children - found:
                found.add(child)
                pending.append((child, ()))
        return frozenset(found)
    return None


def named_like_a_known_project(use: ImportUse) -> bool:
    """An import that no installed or tabled distribution explains but that is named exactly
    like a widely used project on the index (``ujson``, ``cachetools``): that project."""
    return use.distribution is not None and popularity_rank(use.distribution) is not None


_OPTIONAL = frozenset({"guarded", "typing", "conditional"})
# Distributions whose modules the import table names.
_TABLE_DISTRIBUTIONS = frozenset(
    canonicalize_name(dist) for dists in IMPORT_TABLE.values() for dist in dists
)


def modules_unknown(view: ProjectView, name: str) -> bool:
    """Which modules the declared distribution ``name`` provides cannot be told here: it is
    not installed and no table names them (``ldclient`` for launchdarkly-server-sdk)."""
    return not view.resolver.environment.installed(name) and name not in _TABLE_DISTRIBUTIONS


def unexplained_in(view: ProjectView, project: ProjectFacts, code: str) -> set[str]:
    """The scopes whose own service code needs a module that no known distribution provides
    (an optional import -- ``try/except ImportError``, a version or platform check, typing --
    needs nothing): a declared distribution of that scope whose modules are unknown may be the
    one. ``code``: the rule whose collected guards say which imports are optional."""
    known: set[str] | None = view.memo.get(("unexplained", code))
    if known is None:
        marks = guard_marks(project, code)
        optional = optional_in_module(project, code)
        covered: set[str] = set()
        for use in view.inventory.imports:
            if use.origin != "unknown" or use.is_test:
                continue
            kinds = marks.get((use.path, use.line), set())
            if kinds & _OPTIONAL or use.module in optional.get(use.path, ()):
                continue
            if named_like_a_known_project(use):
                continue  # ``import ujson``: that project, undeclared -- not another's module
            facts = project.modules.get(use.path)
            scope = view.scope_of(use.path)
            if scope is not None and in_runtime_code(view, use.path, facts):
                covered.add(scope)
        view.memo[("unexplained", code)] = known = covered
    return known
