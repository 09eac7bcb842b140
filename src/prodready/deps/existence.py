"""Rules over the package index: names that do not exist, suspicious young or empty projects,
possible typosquats.

Each rule reads the dependency inventory (built once per scan): the names the project declares,
and the imports nothing else explains (not the standard library, the project itself, a declared,
installed or well-known distribution), with what the package index says about each. Names the
index could not vouch for (offline without a cached answer, index unreachable) are never
findings: the inventory notes how many and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import PurePosixPath

from packaging.utils import canonicalize_name

from prodready.deps.index import DEFAULT_INDEX_URL, redact, resolve_index_url
from prodready.deps.inventory import Inventory, inventory
from prodready.deps.model import Declaration, ImportUse, IndexInfo
from prodready.deps.popular import popularity_rank, typosquat_of
from prodready.engine.project import ProjectContext, ProjectFacts
from prodready.engine.registry import project_rule
from prodready.model import Category, Confidence, DepsSettings, Severity

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


def _evidence(use: ImportUse, local: set[str], examples: set[str]) -> bool:
    """An import that says the project needs the distribution (see ``subjects``)."""
    if use.is_test or use.path in examples:
        return False
    return use.origin != "unknown" or use.module.split(".")[0] not in local


def _project_names(project: ProjectFacts | None) -> tuple[set[str], set[str]]:
    """Every module and package name in the scanned tree, wherever it lives; the paths of
    documentation examples."""
    names: set[str] = set()
    examples: set[str] = set()
    for path, facts in (project.modules if project is not None else {}).items():
        *directories, filename = PurePosixPath(path).parts
        names.update(directories)
        names.add(filename.removesuffix(".py"))
        if facts.get("is_example"):
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


@project_rule(
    code="DEP020",
    name="nonexistent-package",
    category=Category.DEPENDENCIES,
    severity=Severity.CRITICAL,
    confidence=Confidence.HIGH,
    cwe=829,
    summary="A declared or imported package does not exist on the package index",
    fix="Replace the name with the package you meant, or remove it; never install it by name.",
)
def nonexistent_package(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Asks the package index (PyPI, or `$PIP_INDEX_URL` / `[tool.prodready.deps] index-url` for
    a private registry) about every declared dependency and every import that no installed,
    declared or well-known distribution explains, and reports the names the index does not
    know: at the declaration, or at the import when nothing declares it (imports in tests and
    documentation examples, and imports named like a module of the project, are not taken as
    evidence). Requirements installed from a URL or a local path are not looked up.
    `prodready deps` asks the index; `prodready scan` uses the answers cached by earlier runs,
    and notes the names it could not verify.

    ## Why it breaks production
    Code assistants invent package names -- published measurements find about one in five
    suggested names hallucinated, many of them again and again -- and an invented name is
    free for anyone to register. Attackers do ("slopsquatting"): they publish a package under
    a name assistants keep suggesting, and the next `pip install` of the requirements runs
    their code in CI and in production. Until then the deploy fails on an install error, and
    the tempting fix -- installing whatever answers to the name -- is the attack. A private
    package that is absent from PyPI is the same hole (dependency confusion) when an installer
    also looks at PyPI.

    ## Example
    ```text
    # requirements.txt
    requests==2.32.3
    flask-jwt-auth-helpers==1.2.0   # no such project: whoever registers it runs in your build
    ```

    ## Use instead
    ```text
    # requirements.txt: the package that really provides the feature
    requests==2.32.3
    Flask-JWT-Extended==4.7.1
    ```
    For an internal package, install from your registry only (`--index-url` pointing at a
    proxy that serves both) and reserve the name on PyPI.
    """
    inv = inventory(project, ctx)
    where = index_label(ctx.config.deps)
    for subject in subjects(inv, project):
        if subject.info.exists is not False:
            continue
        resembles = typosquat_of(subject.name)
        hint = f" (did you mean `{resembles}`?)" if resembles else ""
        # An import nothing explains might still be a local module we could not place.
        confidence = None if subject.declarations else Confidence.MEDIUM
        for path, line in subject.places():
            label = subject.label(path, line)
            if subject.declarations:
                message = (
                    f"{label}: no package `{subject.info.name}` exists on {where}{hint}. A name"
                    " nobody publishes is free for anyone to register with malicious code"
                    " (slopsquatting): replace it with the package you meant or remove it."
                )
            else:
                message = (
                    f"{label}: nothing declared or installed provides it, and no package"
                    f" `{subject.info.name}` exists on {where}{hint}. Installing it by name"
                    " would fetch whatever someone registers: fix the import or declare the"
                    " distribution that provides it."
                )
            ctx.report(path, line, message, confidence=confidence)


# -- DEP021 -------------------------------------------------------------------------------------


@project_rule(
    code="DEP021",
    name="suspicious-package",
    category=Category.DEPENDENCIES,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    cwe=1357,
    summary="A dependency exists on the index but looks like a placeholder or a new squat",
    fix="Check the project's source and maintainers before installing it, or use a known one.",
)
def suspicious_package(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Weighs what the package index says about each dependency that exists: a first release
    less than 90 days old, a single release (or none with files), an empty or placeholder
    description ("test", "placeholder", "my first package"), no project links. It reports a
    dependency showing at least two of these, one of them about its youth (recent, single
    release) and -- when the index gives descriptions and links -- one about its emptiness,
    listing the reasons. A healthy new project (recent, but described and linked) is not
    reported; neither is an old one without links. For an import that nothing declares, the
    index describes a namesake that may be an unrelated old project (`import material` comes
    from mkdocs-material, not from the `material` of 2014), so only a recent first release
    counts there, with low confidence.

    ## Why it breaks production
    Existence is not legitimacy. Names that code assistants hallucinate get registered --
    sometimes by researchers holding them, sometimes as an empty first release that a later
    update turns malicious once installs arrive. The profile is the same: registered weeks ago,
    one release, no description, no repository. Pinning such a package runs code nobody
    reviewed, from an author nobody knows, in every build.

    ## Example
    ```text
    # requirements.txt
    fastapi-auth-middleware==0.0.1   # first release 12 days ago, single release, no links
    ```

    ## Use instead
    ```text
    # a maintained package with a history, a repository and a description
    fastapi==0.115.6
    PyJWT==2.10.1
    ```
    When the package is yours or known to be legitimate, suppress the finding with the
    reason.
    """
    inv = inventory(project, ctx)
    today = datetime.now(UTC).date()
    for subject in subjects(inv, project):
        if subject.info.exists is not True:
            continue
        reasons = suspicion_reasons(subject.info, today)
        if not reasons or (not subject.declarations and not reasons[0].startswith("first")):
            # For a bare import the index describes a namesake, which may be an old, unrelated
            # project (``import material`` is mkdocs-material, not the 2014 ``material`` 0.1):
            # only a namesake registered recently suggests someone claimed the name.
            continue
        confidence = None
        if not subject.info.has_metadata or not subject.declarations:
            confidence = Confidence.LOW
        for path, line in subject.places():
            ctx.report(
                path,
                line,
                f"{subject.label(path, line)}: `{subject.info.name}` looks like a placeholder or"
                f" a new squat ({'; '.join(reasons)}). Check its source and maintainers before"
                " installing it, or depend on an established package.",
                confidence=confidence,
            )


def suspicion_reasons(info: IndexInfo, today: date) -> list[str]:
    """Why the project looks like a placeholder; empty when it does not look like one."""
    young: list[str] = []
    empty: list[str] = []
    first = _date(info.first_release)
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


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


# -- DEP022 -------------------------------------------------------------------------------------


@project_rule(
    code="DEP022",
    name="possible-typosquat",
    category=Category.DEPENDENCIES,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    cwe=829,
    summary="A dependency's name is a near miss of a popular package (possible typosquat)",
    fix="Check the spelling: depend on the popular package the name resembles.",
)
def possible_typosquat(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Compares each declared dependency (and each import nothing explains) with the most
    downloaded projects on PyPI, a list shipped with prodready: a name that is not popular
    itself but differs from a popular one by a typo (one edit for names of 5 to 9 characters,
    two for longer ones: a swapped, missing, extra or wrong letter), only by separators or
    look-alike characters (`djang0`, `scikitlearn`), or by a `python-`/`py` prefix or `-py`
    suffix (`python-requests`, `yaml` for `pyyaml`) is reported with the name it resembles.
    Works offline; when the index knows the project as established (a year old, five
    releases, project links) it is taken as a project of its own and not reported. Names the
    index does not know at all are DEP020's.

    ## Why it breaks production
    Typosquatting is the oldest attack on package registries: publish `reqeusts` or
    `python-dateutils`, copy the real project's description, and wait for a typo in a
    requirements file or an install command. The package usually works -- it depends on the
    real one -- and also steals environment variables, cloud credentials and SSH keys on
    install. Code assistants add their own near misses: plausible names one letter away from
    the package they meant.

    ## Example
    ```text
    # requirements.txt
    reqeusts==2.32.3
    python-jwt==4.1.0     # PyJWT was meant
    ```

    ## Use instead
    ```text
    requests==2.32.3
    PyJWT==2.10.1
    ```
    When the similar name is the project you mean, suppress the finding with the reason.
    """
    inv = inventory(project, ctx)
    today = datetime.now(UTC).date()
    for subject in subjects(inv, project):
        if subject.info.exists is False or _established(subject.info, today):
            continue
        target = typosquat_of(subject.name)
        if target is None:
            continue
        known = ""
        if subject.info.exists:
            releases = len(subject.info.versions)
            since = f", first released {subject.info.first_release}"
            known = (
                f" (the index has {releases} release{'s' if releases != 1 else ''}"
                f"{since if subject.info.first_release else ''})"
            )
        rank = popularity_rank(target)
        popular = f"one of the {_round_up(rank)} most downloaded" if rank else "popular"
        confidence = Confidence.LOW if not subject.declarations else None
        for path, line in subject.places():
            ctx.report(
                path,
                line,
                f"{subject.label(path, line)}: `{subject.info.name}`{known} resembles"
                f" `{target}`, {popular} packages -- a possible typosquat. Depend on"
                f" `{target}` if that was meant; otherwise confirm this project is the one you"
                " want and suppress with the reason.",
                confidence=confidence,
            )


def _established(info: IndexInfo, today: date) -> bool:
    first = _date(info.first_release)
    return (
        info.exists is True
        and info.has_metadata
        and first is not None
        and (today - first).days >= ESTABLISHED_DAYS
        and len(info.versions) >= ESTABLISHED_RELEASES
        and bool(info.project_urls)
    )


def _round_up(rank: int) -> int:
    for bound in (10, 100, 1000):
        if rank <= bound:
            return bound
    return 5000 if rank <= 5000 else 15000
