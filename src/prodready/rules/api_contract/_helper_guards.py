"""API001: request values checked by the project's own helpers (and by a DRF generic view).

A handler often reads the body only through a helper of its project --
``int_from_request(request.data, "page", 0)`` -- that converts the value and raises a 400 error
(``ValidationError``, ``BadRequest``, ``abort(400)``) when it does not fit. The check is real;
it is one call away, often in another module.

Each module states, as project facts, which parameters its top-level functions check that way
(:func:`establish_helper_checks`); a finding whose every body read is handed to one helper
names the fact that would make it moot (:func:`helper_check`), and the project pass drops it
when a service module of the project establishes it. A helper is named by its function name
(``int_from_request``), so a helper re-exported by another module of the project
(``from core.utils.params import int_from_request`` in ``core/utils/common.py``) is found too;
the handler's callee must be imported or defined in its module.
"""

from __future__ import annotations

import ast
import re

from prodready.plugin import ModuleMemo, ProjectFact, PythonContext
from prodready.plugin.analysis import constant, dotted, module_function, walk_body

_FACT = "api-contract:checks-param:"
_CLIENT_ERROR_EXCEPTIONS = re.compile(r"ValidationError|BadRequest|Invalid|UnprocessableEntity")
_CLIENT_ERROR_STATUS = frozenset({400, 422})
_ABORTS = frozenset({"abort", "HTTPException", "HTTPBadRequest", "HttpResponseBadRequest"})


def helper_fact(function: str, position: int) -> ProjectFact:
    return ProjectFact(
        f"{_FACT}{function}:{position}",
        "a project helper checks the value it is given and answers 400 when it does not fit",
    )


def establish_helper_checks(ctx: PythonContext) -> None:
    """State the module's checking helpers (once per module)."""
    ctx.memo(_ESTABLISHED)


def _establish(ctx: PythonContext) -> bool:
    if ctx.facts.is_test:
        return False  # a test module's helpers do not run in production
    for node in ctx.tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for position in _checked_parameters(node, ctx):
                ctx.establish(helper_fact(node.name, position))
    return True


_ESTABLISHED: ModuleMemo[bool] = ModuleMemo("API001:helper-checks", _establish)


def helper_checks(reads: list[ast.AST], ctx: PythonContext) -> tuple[ProjectFact, ...]:
    """When every read of the body is handed straight to one helper of the project
    (``int_from_request(request.data, "page", 0)``): the fact under which that helper checks
    it (the finding is moot when the project establishes it); else nothing."""
    parents = ctx.parents()
    facts = set()
    for read in reads:
        call = parents.get(id(read))
        fact = helper_check(call, read, ctx) if isinstance(call, ast.Call) else None
        if fact is None:
            return ()
        facts.add(fact)
    return tuple(facts) if len(facts) == 1 else ()


_GENERIC_SAVES = frozenset({"create", "update", "partial_update"})


def generic_save(call: ast.Call) -> bool:
    """``super().create(request, ...)`` in a DRF view: the generic view validates the body
    with its serializer (``is_valid(raise_exception=True)``) before saving anything."""
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in _GENERIC_SAVES
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "super"
    )


def helper_check(call: ast.Call, argument: ast.AST, ctx: PythonContext) -> ProjectFact | None:
    """The fact under which ``call`` -- a helper imported or defined in this module, given
    ``argument`` positionally -- checks it."""
    if argument not in call.args:
        return None
    position = call.args.index(argument)
    func = call.func
    if isinstance(func, ast.Name):
        bound = ctx.facts.bindings.get(func.id)
        if isinstance(bound, str):
            return helper_fact(bound.rpartition(".")[2], position)
        local = module_function(call, ctx)
        return helper_fact(local.name, position) if local is not None else None
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and isinstance(ctx.facts.bindings.get(func.value.id), str)
    ):
        return helper_fact(func.attr, position)  # ``params.int_from_request(...)``
    return None


def _checked_parameters(
    function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> list[int]:
    params = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    if params and params[0] in {"self", "cls"}:
        return []
    nodes = list(walk_body(function.body))
    if not any(_rejects(node, ctx) for node in nodes if isinstance(node, ast.Raise | ast.Call)):
        return []  # nothing in it answers a client error
    return [
        position
        for position, param in enumerate(params)
        if _checks(nodes, _derived(param, nodes), ctx)
    ]


def _derived(param: str, nodes: list[ast.AST]) -> set[str]:
    """``param`` and the names assigned from it (``value = params.get(key)``)."""
    names = {param}
    for _ in range(3):
        before = len(names)
        for node in nodes:
            if isinstance(node, ast.Assign) and _mentions(node.value, names):
                for target in node.targets:
                    names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        if len(names) == before:
            break
    return names


def _checks(nodes: list[ast.AST], names: set[str], ctx: PythonContext) -> bool:
    """A branch on the value, or a ``try`` converting it, ends in a client error."""
    for node in nodes:
        if (
            isinstance(node, ast.If)
            and _mentions(node.test, names)
            and _answers_client_error([*node.body, *node.orelse], ctx)
        ):
            return True
        if (
            isinstance(node, ast.Try)
            and any(_mentions(s, names) for s in node.body)
            and any(_answers_client_error(h.body, ctx) for h in node.handlers)
        ):
            return True
    return False


def _answers_client_error(body: list[ast.stmt], ctx: PythonContext) -> bool:
    return any(_rejects(node, ctx) for node in walk_body(body))


def _rejects(node: ast.AST, ctx: PythonContext) -> bool:
    """``raise ValidationError(...)``, ``abort(400)``, ``raise HTTPException(status_code=422)``."""
    if isinstance(node, ast.Raise) and node.exc is not None:
        raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        name = (dotted(raised) or "").rpartition(".")[2]
        if _CLIENT_ERROR_EXCEPTIONS.search(name):
            return True
        return isinstance(node.exc, ast.Call) and _rejects(node.exc, ctx)
    if isinstance(node, ast.Call):
        name = (dotted(node.func) or "").rpartition(".")[2]
        if name in _ABORTS:
            values = [*node.args, *(k.value for k in node.keywords)]
            return any(constant(v) in _CLIENT_ERROR_STATUS for v in values)
    return False


def _mentions(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))
