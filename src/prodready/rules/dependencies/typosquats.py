"""DEP022 possible-typosquat. The analysis it reports from lives in the library,
:mod:`prodready.deps.existence`.
"""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime

from prodready.deps.declared import shared_guards
from prodready.deps.existence import (
    ESTABLISHED_DAYS,
    ESTABLISHED_RELEASES,
    needed_subjects,
    parse_date,
)
from prodready.deps.inventory import inventory
from prodready.deps.model import IndexInfo
from prodready.deps.popular import popularity_rank, typosquat_of
from prodready.plugin import (
    Category,
    Confidence,
    ProjectContext,
    ProjectFacts,
    Severity,
    project_rule,
)

# A project this old with several releases predates project links on the index (CyMySQL,
# 2012): its age and history alone make it a project of its own.
LONG_ESTABLISHED_DAYS = 3 * 365


@project_rule(
    nodes=(ast.Import, ast.ImportFrom, ast.If, ast.Try),
    collect=shared_guards,
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
    Works offline for declared names (at low confidence: the index was not asked); when the
    index knows the project as established (a year old, five releases, project links; or three
    years old with five releases, from before project links) it is taken as a project of its
    own and not reported. A name only imported is judged too (a mistyped or hallucinated import
    is what an attacker registers; offline at low confidence), but not when the import is
    optional (inside `try/except ImportError`, under a version or platform check). Names the
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
    for subject in needed_subjects(inv, project, "DEP022"):
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
        # Not asked (offline): whether the name is young or obscure is unknown.
        unverified = subject.info.exists is None
        confidence = Confidence.LOW if unverified else None
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
    """A project of its own: a year of releases with links, or many years of releases."""
    first = parse_date(info.first_release)
    if info.exists is not True or first is None or len(info.versions) < ESTABLISHED_RELEASES:
        return False
    age = (today - first).days
    linked = info.has_metadata and bool(info.project_urls)
    return age >= LONG_ESTABLISHED_DAYS or (age >= ESTABLISHED_DAYS and linked)


def _round_up(rank: int) -> int:
    for bound in (10, 100, 1000):
        if rank <= bound:
            return bound
    return 5000 if rank <= 5000 else 15000
