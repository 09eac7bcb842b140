"""What the package index says about the project's names, for the rules over it
(``prodready.rules.dependencies``: names that do not exist, suspicious young or empty projects,
possible typosquats).

Each of those rules reads the dependency inventory (built once per scan): the names the
project declares, and the imports nothing else explains (not the standard library, the project
itself, a declared, installed or well-known distribution), with what the package index says
about each. Names the index could not vouch for (offline without a cached answer, index
unreachable) are never findings: the inventory notes how many and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date

from packaging.utils import canonicalize_name

from prodready.deps.declared import guard_marks, optional_in_module
from prodready.deps.imports import path_parts
from prodready.deps.index import DEFAULT_INDEX_URL, redact, resolve_index_url
from prodready.deps.inventory import Inventory
from prodready.deps.model import Declaration, ImportUse, IndexInfo
from prodready.engine.project import ProjectFacts
from prodready.model import DepsSettings

# A first release younger than this is a signal. Placeholders registered under names code
# assistants invent, and squats of popular names, are weeks old when they are noticed; PyPI
# removes the ones reported within days, so what survives is young. 90 days also covers a name
# registered after an assistant started suggesting it. A young project alone is no finding:
# DEP021 also wants an empty description or no links, which healthy new projects have.
RECENT_DAYS = 90
# An imitation that has lived this long with releases and links is a project of its own.
ESTABLISHED_DAYS = 365
ESTABLISHED_RELEASES = 5
_PLACEHOLDER = re.compile(
    r"^\W*(?:placeholder|test(?:ing)?|todo|tbd|dummy|example|sample|foo|bar|asdf|hello,? world"
    r"|description|summary|none|unknown|n/?a|my (?:first|short|awesome|test|new) .*"
    r"|an? (?:simple |small |test )?(?:python )?(?:package|project|library|module))\W*$"
    r"|\b(?:placeholder|reserved|name.?squat\w*|squatt\w*|takeover|proof of concept|poc)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Subject:
    """A name the index was asked about, and where the project names it."""

    name: str  # as looked up (canonical for declared names, the module for bare imports)
    info: IndexInfo
    declarations: tuple[Declaration, ...]  # installed from the index (no URL, not editable)
    imports: tuple[ImportUse, ...]  # when not declared: the first import of it in each file

    def places(self) -> list[tuple[str, int]]:
        if self.declarations:
            return sorted({(d.path, d.line) for d in self.declarations})
        return sorted({(use.path, use.line) for use in self.imports})

    def label(self, path: str, line: int) -> str:
        """How the name is written at that place, for messages."""
        for declaration in self.declarations:
            if (declaration.path, declaration.line) == (path, line):
                return f"`{declaration.raw}`"
        for use in self.imports:
            if (use.path, use.line) == (path, line):
                return f"`import {use.module}`"
        return f"`{self.name}`"


def subjects(inv: Inventory, project: ProjectFacts | None = None) -> list[Subject]:
    """Every name the index answered about, with the places the project names it.

    Imports in tests and documentation examples do not count: test runs put fixture
    directories on ``sys.path`` (``import blueprintapp`` from ``tests/test_apps``) and examples
    import what they illustrate. Nor does an unexplained import named like a module or package
    anywhere in the project: Sphinx's ``conf.py`` puts ``docs/_ext`` on ``sys.path`` to
    ``import github_links``."""
    local, examples = _project_names(project)
    found: list[Subject] = []
    for name in sorted(inv.dependencies):
        dependency = inv.dependencies[name]
        info = dependency.index or inv.index.get(name)
        if info is None:
            continue
        from_index = tuple(d for d in dependency.declared if d.url is None and not d.editable)
        if dependency.declared and not from_index:
            continue  # installed from a URL or a local path: the index is not asked for it
        uses = [use for use in dependency.imports if _evidence(use, local, examples)]
        if from_index or uses:
            found.append(Subject(name, info, from_index, _first_per_file(uses)))
    for name in sorted(set(inv.index) - set(inv.dependencies)):
        if canonicalize_name(name) in inv.dependencies:
            continue  # the same name, already reported through the dependency
        uses = [
            use
            for use in inv.imports
            if use.distribution == name and _evidence(use, local, examples)
        ]
        if uses:
            found.append(Subject(name, inv.index[name], (), _first_per_file(uses)))
    return found


_OPTIONAL = frozenset({"guarded", "typing", "conditional"})


def needed_subjects(inv: Inventory, project: ProjectFacts, code: str) -> list[Subject]:
    """``subjects``, with the imports the project can do without left out: an optional import
    (inside ``try/except ImportError``, after a ``find_spec`` check, under a version or
    platform check or ``TYPE_CHECKING``) probes for an edition or a backend that may be absent,
    it needs nothing from the index. A name only imported that way is no subject. ``code``:
    the rule whose collected guards (``declared.shared_guards``) say which are optional."""
    marks = guard_marks(project, code)
    optional = optional_in_module(project, code)
    found: list[Subject] = []
    for subject in subjects(inv, project):
        kept = tuple(
            use
            for use in subject.imports
            if not marks.get((use.path, use.line), set()) & _OPTIONAL
            and use.module not in optional.get(use.path, ())
        )
        if subject.declarations or kept:
            found.append(replace(subject, imports=kept))
    return found


def _evidence(use: ImportUse, local: set[str], examples: set[str]) -> bool:
    """An import that says the project needs the distribution (see ``subjects``)."""
    if use.is_test or use.path in examples:
        return False
    return use.origin != "unknown" or use.module.split(".")[0] not in local


def _project_names(project: ProjectFacts | None) -> tuple[set[str], set[str]]:
    """Every module and package name in the scanned tree, wherever it lives; the paths of
    documentation examples (computed once per scan: three rules ask)."""
    if project is None:
        return _names_of(None)
    names_and_examples: tuple[set[str], set[str]] = project.memo(
        "deps:project-names", lambda: _names_of(project)
    )
    return names_and_examples


def _names_of(project: ProjectFacts | None) -> tuple[set[str], set[str]]:
    names: set[str] = set()
    examples: set[str] = set()
    for path, facts in (project.modules if project is not None else {}).items():
        *directories, filename = path_parts(path)
        names.update(directories)
        names.add(filename.removesuffix(".py"))
        if facts.is_example:
            examples.add(path)
    return names, examples


def _first_per_file(uses: list[ImportUse]) -> tuple[ImportUse, ...]:
    first: dict[str, ImportUse] = {}
    for use in sorted(uses, key=lambda u: (u.path, u.line)):
        first.setdefault(use.path, use)
    return tuple(first.values())


def index_label(settings: DepsSettings) -> str:
    url = resolve_index_url(settings)
    return "PyPI" if url == DEFAULT_INDEX_URL else redact(url)


# -- DEP020 -------------------------------------------------------------------------------------


# -- DEP021 -------------------------------------------------------------------------------------


def suspicion_reasons(info: IndexInfo, today: date) -> list[str]:
    """Why the project looks like a placeholder; empty when it does not look like one."""
    young: list[str] = []
    empty: list[str] = []
    first = parse_date(info.first_release)
    if first is not None and (today - first).days < RECENT_DAYS:
        age = max(0, (today - first).days)
        young.append(f"first release {age} day{'s' if age != 1 else ''} ago ({first})")
    if not info.versions:
        young.append("no release with files")
    elif len(info.versions) == 1:
        young.append(f"a single release ({info.versions[0]})")
    if info.has_metadata:
        if not info.has_description and is_placeholder(info.summary):
            described = f'placeholder description "{info.summary}"' if info.summary else ""
            empty.append(described or "no description")
        if not info.project_urls:
            empty.append("no project links")
    if not young:
        return []
    if info.has_metadata:
        return young + empty if empty else []
    return young if len(young) >= 2 else []


def is_placeholder(summary: str) -> bool:
    """An empty summary, or one that says nothing ("test", "placeholder", "my first package")."""
    text = summary.strip()
    return len(text) < 8 or _PLACEHOLDER.search(text) is not None


def parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


# -- DEP022 -------------------------------------------------------------------------------------
