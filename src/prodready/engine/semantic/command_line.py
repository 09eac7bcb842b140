"""Functions that run only from a command line: code of a script, a management command or a
migration, and the project functions only such code calls.

A function's role is its file's (:mod:`prodready.engine.roles`: by path, and the console-script
bootstraps the project's packaging manifests name). A plain module-level function is reached
only from a command line when it has project callers and every one of them is such a function
(a fixpoint over the call graph, as the transaction scope is): a one-off import helper that only
the ``label-studio start`` bootstrap calls runs once, in the operator's terminal, with no
concurrent caller -- not in the service.

Only plain module-level functions inherit it: a method may be called through an instance whose
class the model cannot tell (``order.place()`` from a view), so its callers are never all known;
an HTTP handler or a background task (``ENTRY_POINT``) is reached from outside the project.
"""

from __future__ import annotations

import contextlib

from prodready.engine.console_scripts import MANIFESTS
from prodready.engine.project import ProjectFacts
from prodready.engine.roles import RoleMap, referenced_roles
from prodready.engine.semantic.model import MAX_ROUNDS, SemanticModel, semantic_model
from prodready.engine.semantic.summary import ENTRY_POINT, PASSES, REGISTERED
from prodready.model import Role

COMMAND_LINE_ROLES = frozenset({Role.SCRIPT, Role.MANAGEMENT_COMMAND, Role.MIGRATION})


def command_line_only(facts: ProjectFacts) -> frozenset[str]:
    """The qualified names of the project functions that run only from a command line (computed
    once per scan and shared by the project rules that ask)."""
    found: frozenset[str] = facts.memo(
        "engine:command-line-functions", lambda: _command_line_only(facts)
    )
    return found


def running_callers(facts: ProjectFacts) -> dict[str, list[str]]:
    """The project functions that may run each function: its callers, and the functions that
    hand it to a call to be run (``enqueue(job, org_id)``, ``executor.submit(job)``)."""
    found: dict[str, list[str]] = facts.memo(
        "engine:running-callers", lambda: _running_callers(semantic_model(facts))
    )
    return found


def _running_callers(model: SemanticModel) -> dict[str, list[str]]:
    running = {name: [caller for caller, _ in calls] for name, calls in model.callers.items()}
    for name, function in model.functions.items():
        for flag in function.summary.flags:
            if flag.startswith(PASSES):
                for target in model.call_targets(flag[len(PASSES) :]):
                    if target != name:
                        running.setdefault(target, []).append(name)
    return running


def _command_line_only(facts: ProjectFacts) -> frozenset[str]:
    model = semantic_model(facts)
    roles = command_line_file_roles(facts)
    callers = running_callers(facts)
    found = {
        name
        for name, function in model.functions.items()
        if roles.role_of(function.path) in COMMAND_LINE_ROLES
    }
    candidates = [name for name in callers if name not in found and _plain(model, name)]
    for _ in range(MAX_ROUNDS):
        added = [
            name
            for name in candidates
            if name not in found and all(caller in found for caller in callers[name])
        ]
        if not added:
            break
        found.update(added)
    return frozenset(found)


def _plain(model: SemanticModel, name: str) -> bool:
    """A module-level function that is not an entry point: all its callers are the project's.
    A decorated one is registered with something that may call it (``@shared_task`` run by a
    scheduler, ``@app.route``, ``@receiver``): its project callers are not all of them."""
    function = model.functions.get(name)
    if function is None or function.summary.has(ENTRY_POINT) or function.summary.has(REGISTERED):
        return False
    parent = name.rpartition(".")[0]
    return parent not in model.bases and parent not in model.functions


def command_line_file_roles(facts: ProjectFacts) -> RoleMap:
    """The roles of the project's files as the engine judges them from paths and from what the
    packaging manifests name (their text is read here: a project rule sees only facts)."""
    roles: RoleMap = facts.memo("engine:command-line-file-roles", lambda: _roles(facts))
    return roles


def _roles(facts: ProjectFacts) -> RoleMap:
    documents: list[tuple[str, str, str]] = []
    for path in sorted({*facts.modules, *facts.other_files}):
        text = ""
        if path.rsplit("/", 1)[-1] in MANIFESTS:
            with contextlib.suppress(OSError):  # gone since discovery: it names nothing
                text = (facts.root / path).read_text(encoding="utf-8", errors="replace")
        documents.append((path, path, text))
    return RoleMap(referenced=referenced_roles(documents, facts.root))
