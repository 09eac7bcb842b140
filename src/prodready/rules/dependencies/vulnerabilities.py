"""DEP030 vulnerable-dependency: known vulnerabilities of pinned and locked versions.

One finding per affected requirement line (the pin in a requirements file or pyproject, or the
lock entry), listing every advisory of that version. Not one finding per advisory: a finding's
fingerprint is its rule, file and line text (plus an occurrence number for repeats on the same
line), so several findings on one line would be told apart only by their order -- and a newly
published advisory would shift that order and re-key baselined findings. The line is what the
fix changes: upgrading the pin gives a new line, a new fingerprint, a new verdict.

Advisories come from the dependency inventory (:mod:`prodready.deps`).
"""

from __future__ import annotations

from prodready.deps.advisories import parse_version
from prodready.deps.inventory import Dependency, Inventory, inventory
from prodready.deps.model import Advisory
from prodready.plugin import (
    Category,
    Confidence,
    ProjectContext,
    ProjectFacts,
    Severity,
    project_rule,
)

LISTED_SUMMARIES = 5  # advisories described in full; the rest are listed by id
SUMMARY_CHARS = 110


@project_rule(
    code="DEP030",
    name="vulnerable-dependency",
    category=Category.DEPENDENCIES,
    severity=Severity.HIGH,
    confidence=Confidence.HIGH,
    summary="A pinned or locked dependency version has published vulnerabilities",
    cwe=1395,
    fix="Upgrade to the first fixed release named in the message and regenerate the lock file.",
)
def vulnerable_dependency(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Looks up every pinned (`==`) or locked version (uv.lock, poetry.lock, pip-compile output)
    in the advisory sources -- a local OSV database (`--advisory-db PATH`,
    `$PRODREADY_ADVISORY_DB` or `[tool.prodready.deps] advisory-db`, e.g. a checkout of the
    PyPA advisory database or the osv.dev PyPI export) and, with `prodready deps`, the package
    index and the OSV API -- and reports each requirement whose version is affected, at its
    line, with the advisory ids (PYSEC, GHSA, CVE), what each is about and the first fixed
    version. The severity is the advisory's own (its GHSA rating or CVSS score) when it gives
    one; dependencies declared only for development, tests or docs are capped at medium.
    When no source can answer, the scan says "advisories unavailable" instead of passing.

    ## Why it breaks production
    A pinned version is frozen with every hole it had on the day it was pinned, and code
    assistants pin the versions of their training data: years-old releases whose
    vulnerabilities are published, indexed and scanned for. Pinning is right -- it makes
    deploys reproducible -- but a pin nobody re-checks ships a known credential leak or
    remote code execution into every build, and the fix usually is a patch release away.

    ## Example
    ```text
    # requirements.txt
    requests==2.19.0   # PYSEC-2018-28 (CVE-2018-18074): leaks Authorization on redirects
    PyYAML==5.3        # PYSEC-2020-96 (CVE-2020-1747): code execution in full_load
    ```

    ## Use instead
    ```text
    # requirements.txt -- still pinned, on releases with the fixes
    requests==2.32.5
    PyYAML==6.0.2
    ```
    Keep pins, and re-check them: run `prodready deps` (or `prodready scan` with an advisory
    database) in CI and let a bot propose upgrades. A vulnerability that cannot affect the
    service (the vulnerable function is never called) can be suppressed on the requirement's
    line with a comment that says why.
    """
    built = inventory(project, ctx)
    for name in sorted(built.dependencies):
        dependency = built.dependencies[name]
        if not dependency.advisories or dependency.resolved is None:
            continue
        places = _places(dependency, built)
        if not places:
            continue
        severity = _severity(dependency)
        message, fix = _describe(dependency)
        for path, line in places:
            ctx.report(path, line, message, fix=fix, severity=severity)


def _places(dependency: Dependency, built: Inventory) -> list[tuple[str, int]]:
    """The requirement lines that hold the affected version: pins of exactly that version,
    and lock entries of it."""
    version = dependency.resolved
    assert version is not None
    places: list[tuple[str, int]] = []
    for declaration in dependency.declared:
        pinned = declaration.pinned_version
        if pinned is not None and _same(pinned, version):
            places.append((declaration.path, declaration.line))
    for lock in built.manifests.locked:
        if lock.name == dependency.name and _same(lock.version, version):
            places.append((lock.path, lock.line))
    return list(dict.fromkeys(places))


def _same(left: str, right: str) -> bool:
    if left == right:
        return True
    a, b = parse_version(left), parse_version(right)
    return a is not None and a == b


def _severity(dependency: Dependency) -> Severity:
    """The worst advisory's rating (an unrated advisory counts as the rule's default, high);
    capped at medium for a dependency declared only for development, tests or docs."""
    ratings = [Severity(a.severity) if a.severity else Severity.HIGH for a in dependency.advisories]
    worst = min(ratings, key=list(Severity).index)
    development_only = bool(dependency.declared) and not any(d.runtime for d in dependency.declared)
    if development_only and worst in {Severity.CRITICAL, Severity.HIGH}:
        return Severity.MEDIUM
    return worst


def _describe(dependency: Dependency) -> tuple[str, str]:
    advisories = dependency.advisories
    version = dependency.resolved
    count = len(advisories)
    head = (
        f"{dependency.name} {version} has {count} known "
        f"{'vulnerability' if count == 1 else 'vulnerabilities'}: "
    )
    described = [_one(advisory) for advisory in advisories[:LISTED_SUMMARIES]]
    rest = advisories[LISTED_SUMMARIES:]
    if rest:
        described.append(f"and {len(rest)} more ({', '.join(_ids(a) for a in rest)})")
    unfixed = [a.id for a in advisories if not a.fixed]
    targets = [first for a in advisories if a.fixed and (first := _first_fix(a)) is not None]
    target = max(targets, key=_order) if targets else None
    advice: list[str] = []
    if target is not None:
        every = (
            "" if unfixed else (", which fixes it" if count == 1 else ", which fixes all of them")
        )
        advice.append(f"upgrade to {dependency.name}>={target}{every}")
    if unfixed:
        advice.append(
            f"no fixed release is named for {', '.join(unfixed)}: replace the dependency or "
            "check that the vulnerable code is unreachable"
        )
    action = "; ".join(advice)
    text = f"{head}{'; '.join(described)}. {action[:1].upper()}{action[1:]}."
    fix = (
        f"Upgrade to {dependency.name}>={target} and regenerate the lock file."
        if target is not None
        else f"Replace {dependency.name} or mitigate {', '.join(unfixed)}."
    )
    return text, fix


def _ids(advisory: Advisory) -> str:
    if not advisory.aliases:
        return advisory.id
    return f"{advisory.id} ({', '.join(advisory.aliases)})"


def _one(advisory: Advisory) -> str:
    summary = " ".join(advisory.summary.split())
    if len(summary) > SUMMARY_CHARS:
        summary = summary[:SUMMARY_CHARS].rsplit(" ", 1)[0].rstrip(",.;:") + "..."
    fixed = (
        f" (fixed in {', '.join(advisory.fixed)})"
        if advisory.fixed
        else " (no fixed release named)"
    )
    return f"{_ids(advisory)}{': ' + summary if summary else ''}{fixed}"


def _first_fix(advisory: Advisory) -> str | None:
    return min(advisory.fixed, key=_order) if advisory.fixed else None


def _order(version: str) -> tuple[int, object]:
    parsed = parse_version(version)
    return (1, parsed) if parsed is not None else (0, version)
