"""Findings made moot by a fact another module of their project establishes.

A rule records a :class:`~prodready.model.ProjectFact` while it walks the module that
establishes it (``ctx.establish``: "this module installs a default timeout for every requests
call") and names it on the findings it would make moot (``ctx.report(..., unless=FACT)``). Both
are stored with the file's cached result, so this pass costs nothing on a warm rescan but a look
at the few modules that establish something. A fact holds in a project when a module whose role
is ``service`` establishes it: a patch installed by a test suite does not run in production.

The project of a file is the nearest directory above it, up to the scan root, that holds a
project marker (``pyproject.toml``, ``setup.py``, ``.git``...; the scan root otherwise): one
service's patch does not cover a neighbouring service scanned with it. A ``setup.py`` inside a
package (beside its ``__init__.py``) is one of its modules, no marker.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from prodready.engine.deployment_env import (
    LAUNCH_FACT_PREFIX,
    contradicted_launch_facts,
    deployed_env_facts,
)
from prodready.engine.pipeline import PROJECT_MARKERS
from prodready.engine.roles import RoleMap
from prodready.engine.semantic.caller_bounds import bounded_by_callers, limited_by_jobs
from prodready.engine.semantic.guards import derive, holds_any, import_prefixes, reached
from prodready.model import Confidence, Finding, Role, Severity

Holder = tuple[str, tuple[str, ...], str | None]  # (report path, facts, detected role)

_ROLE_VALUES = frozenset(role.value for role in Role)


class Projects:
    """The project directory (a report path, ``""`` for the root) of each file, looked up once
    per directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._of_directory: dict[str, str] = {}

    def of(self, relpath: str) -> str:
        directory = posixpath.dirname(relpath)
        walked: list[str] = []
        found = ""
        while True:
            known = self._of_directory.get(directory)
            if known is not None:
                found = known
                break
            walked.append(directory)
            if not directory or directory.startswith(".."):
                break
            if _marks_project(self.root / directory):
                found = directory
                break
            directory = posixpath.dirname(directory)
        for seen in walked:
            self._of_directory[seen] = found
        return found


def _marks_project(directory: Path) -> bool:
    """The directory holds a project marker. A ``setup.py`` beside an ``__init__.py`` is a
    module of that package (a view of the first-run setup page), not a packaging manifest: the
    package stays in the project of the modules it imports."""
    return any(
        os.path.lexists(directory / marker)
        and not (marker == "setup.py" and os.path.lexists(directory / "__init__.py"))
        for marker in PROJECT_MARKERS
    )


def held_facts(
    holders: Iterable[Holder], roles: RoleMap, projects: Projects
) -> dict[str, set[str]]:
    """Project directory -> the facts its service modules establish."""
    held: dict[str, set[str]] = {}
    for relpath, facts, detected in holders:
        role = roles.role_of(relpath, detected if detected in _ROLE_VALUES else None)
        if role is Role.SERVICE:
            held.setdefault(projects.of(relpath), set()).update(facts)
        elif role is Role.SCRIPT:  # the launcher: how production starts the service
            launch = [fact for fact in facts if fact.startswith(LAUNCH_FACT_PREFIX)]
            held.setdefault(projects.of(relpath), set()).update(launch)
    # what project functions sanitise and check, through helpers and re-exports
    return {project: derive(facts, import_prefixes(project)) for project, facts in held.items()}


def drop_moot(
    findings: list[Finding], holders: Iterable[Holder], roles: RoleMap, root: Path
) -> tuple[list[Finding], int]:
    """The findings none of whose ``unless`` facts holds in their project, and how many were
    dropped. ``holders``: every module known to establish a fact, with its current content."""
    if not any(finding.unless for finding in findings):
        return findings, 0
    projects = Projects(root)
    held = held_facts(holders, roles, projects)
    deployed = deployed_env_facts(findings, root)  # what the tree's Terraform/manifests set
    contradicted = contradicted_launch_facts(findings, root)  # gunicorn in the Dockerfile...
    kept: list[Finding] = []
    moot = 0
    for finding in findings:
        facts = held.get(projects.of(finding.path), set()) if finding.unless else set()
        if deployed and finding.unless:
            facts = facts | deployed
        if contradicted and finding.unless:
            facts = facts - contradicted
        needed = reached(finding.unless, facts) if finding.unless else None
        if needed is False:
            continue  # a sink only another module could feed, and none does: no finding
        if not holds_any(finding.unless, facts) and not bounded_by_callers(finding.unless, facts):
            limited = limited_by_jobs(finding.unless, facts)
            kept.append(_lowered_for_job_limit(finding) if limited else finding)
        else:
            moot += 1
    return kept, moot


def _lowered_for_job_limit(finding: Finding) -> Finding:
    """Every caller in the project runs the finding's function inside a job the worker kills
    at a time limit: the wait is bounded by it (reported low, confidence low)."""
    return replace(
        finding,
        severity=Severity.LOW,
        confidence=Confidence.LOW,
        message=(
            f"{finding.message.rstrip('.')}. Every caller found in the project runs it in a "
            "background job with a hard time limit, which ends the wait: reported low"
        ),
    )
