"""Roles of functions, not only of files: a service module's function that only command-line
code reaches runs with that code's role.

A demo-data generator kept in the package (``core/utils/sample_data.py``) that only a
``populatedb`` management command calls, or a data fix that only a migration calls, sits in a
file whose path says ``service``; yet it never runs per request. The call graph says so
(:func:`prodready.engine.semantic.command_line.command_line_only`: a plain module-level
function whose every project caller runs from a command line). Such a function takes the
role of the command-line code that reaches it -- a management command's when one of them
does (the production rules that judge commands keep judging it: a month-end command pays
salaries), else a script's, else a migration's -- and a finding inside it is judged in that
role by :func:`prodready.engine.roles.apply_roles` (dropped by a rule that judges the service
only, such as a query run once per loop iteration; its ``role`` in the JSON says which).

The spans are computed in the project pass (and stored with its outcome, so a warm rescan
costs nothing); a scan that runs no project rule computes them on the spot.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from prodready.engine.project import ProjectFacts
from prodready.engine.roles import RoleMap
from prodready.engine.semantic.command_line import (
    COMMAND_LINE_ROLES,
    command_line_file_roles,
    command_line_only,
    running_callers,
)
from prodready.engine.semantic.model import MAX_ROUNDS, ProjectFunction, semantic_model
from prodready.model import Finding, Role

ARTIFACT = "engine:function-roles"
# When command-line code of several roles reaches a function: the role most rules judge wins.
_PRECEDENCE = (Role.MANAGEMENT_COMMAND, Role.SCRIPT, Role.MIGRATION)


def function_role_spans(facts: ProjectFacts) -> list[dict[str, Any]]:
    """``{"path", "start", "end", "role"}`` of each module-level function of a service file
    that only command-line code reaches (paths relative to ``facts.root``)."""
    model = semantic_model(facts)
    only = command_line_only(facts)
    roles = command_line_file_roles(facts)
    role_of = _inherited_roles(only, model.functions, running_callers(facts), roles)
    wanted: dict[str, dict[str, Role]] = {}
    for name, role in role_of.items():
        function = model.functions[name]
        if roles.role_of(function.path) in COMMAND_LINE_ROLES:
            continue  # the file's own role already says so
        if "." in function.summary.name:
            continue  # only plain module-level functions inherit a role
        wanted.setdefault(function.path, {})[function.summary.name] = role
    spans: list[dict[str, Any]] = []
    for path, names in sorted(wanted.items()):
        spans.extend(_spans(facts, path, names))
    return spans


def _inherited_roles(
    only: frozenset[str],
    functions: Mapping[str, ProjectFunction],
    callers: Mapping[str, list[str]],
    roles: RoleMap,
) -> dict[str, Role]:
    """The role of each command-line-only function: its file's when that is a command-line
    role, else the highest (:data:`_PRECEDENCE`) of its callers' (a fixpoint: callers first)."""
    found: dict[str, Role] = {}
    for name in only:
        function = functions.get(name)
        own = roles.role_of(function.path) if function is not None else Role.SERVICE
        if own in COMMAND_LINE_ROLES:
            found[name] = own
    fixed = set(found)
    for _ in range(MAX_ROUNDS):  # a role only moves up the precedence: the loop ends
        changed = False
        for name in only - fixed:
            reached = {found.get(caller) for caller in callers.get(name, ())}
            reached.add(found.get(name))
            role = next((r for r in _PRECEDENCE if r in reached), None)
            if role is not None and found.get(name) is not role:
                found[name] = role
                changed = True
        if not changed:
            break
    return {name: role for name, role in found.items() if name in functions}


def _spans(facts: ProjectFacts, path: str, names: Mapping[str, Role]) -> Iterable[dict[str, Any]]:
    """The line spans (decorators included) of the module-level functions ``names``."""
    text = ""
    with contextlib.suppress(OSError):
        text = (facts.root / path).read_text(encoding="utf-8", errors="replace")
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return  # newer syntax than this interpreter's: its findings keep the file's role
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            end = node.end_lineno or node.lineno
            role = names[node.name].value
            yield {"path": path, "start": start, "end": end, "role": role}


def apply_function_roles(findings: list[Finding], spans: object) -> list[Finding]:
    """The findings, each one inside a span of ``spans`` (an :data:`ARTIFACT`) recorded with
    the span's role when its file was judged ``service``."""
    by_path: dict[str, list[tuple[int, int, Role]]] = {}
    if isinstance(spans, list):
        for span in spans:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                by_path.setdefault(span["path"], []).append(
                    (int(span["start"]), int(span["end"]), Role(span["role"]))
                )
    if not by_path:
        return findings
    out: list[Finding] = []
    for finding in findings:
        if finding.role in (None, Role.SERVICE.value) and finding.path in by_path:
            for start, end, role in by_path[finding.path]:
                if start <= finding.line <= end:
                    finding = replace(finding, role=role.value)
                    break
        out.append(finding)
    return out
