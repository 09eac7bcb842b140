"""Helper summaries: which parameters of a module-level helper reach its return value."""

from __future__ import annotations

import ast

from prodready.engine.analysis import dotted, function_flow, module_function
from prodready.engine.python import ModuleMemo, PythonContext
from prodready.engine.taint.allowlist import AllowListed, is_allow_listed
from prodready.engine.taint.bindings import own_nodes
from prodready.engine.taint.sanitizers import (
    HASH_PREFIXES,
    LOOKUP_FUNCTIONS,
    LOOKUP_METHODS,
    NEUTRAL_METHODS,
    VALUE_SANITIZERS,
    allowed_regions,
    guarded_names,
    store_lookup,
)

# (id(function), sanitizers, assumed guarded) -> positions of the parameters that reach the
# return value
_SUMMARIES: ModuleMemo[dict[object, list[int]]] = ModuleMemo("taint:summaries", lambda _: {})

UNSANITIZED = "flow:unsanitized"
"""Among the sanitisers: nothing stops the flow but comparisons -- which parameters a function
*uses* to build its return value, sanitised or not (what it sanitises is the difference)."""


def returned_parameters(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    ctx: PythonContext,
    sanitizers: frozenset[str],
    assume_guarded: frozenset[str] = frozenset(),
) -> list[int]:
    """Positions of the parameters whose value can reach the function's return value.

    Computed once per function (and sanitiser set) by following the function's own
    assignments backwards from its ``return`` statements; names the function checks (an
    allow-list, or the checks the sink's markers ask for) do not flow, nor the names in
    ``assume_guarded`` (checked by a function of another module, see
    :mod:`prodready.engine.taint.project_facts`).
    """
    key = (id(function), sanitizers, assume_guarded)
    summaries = ctx.memo(_SUMMARIES)
    if key in summaries:
        return summaries[key]
    summaries[key] = []  # recursion guard
    params = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    if UNSANITIZED in sanitizers:
        guarded: frozenset[str] = frozenset()
        allowed: AllowListed = {}
    else:
        guarded = guarded_names(function, ctx, sanitizers) | assume_guarded
        allowed = allowed_regions(function, ctx, sanitizers)
    flow = function_flow(function, ctx)
    grown = _grown_containers(function, ctx)
    reached: set[str] = set()
    pending = list(flow.returns)
    seen: set[int] = set()
    while pending:
        expr = pending.pop()
        if id(expr) in seen:
            continue
        seen.add(id(expr))
        for use in _names_through(expr, ctx, sanitizers):
            name = use.id
            if name in guarded or is_allow_listed(use, allowed):
                continue
            if name in params:
                reached.add(name)
            pending.extend(flow.assigned.get(name, ()))
            pending.extend(flow.augmented.get(name, ()))
            pending.extend(grown.get(name, ()))
    result = [position for position, name in enumerate(params) if name in reached]
    summaries[key] = result
    return result


def _names_through(expr: ast.AST, ctx: PythonContext, sanitizers: frozenset[str]) -> list[ast.Name]:
    """The uses of names whose value can flow into ``expr`` (not through sanitising calls,
    lookups by key or comparisons)."""
    names: list[ast.Name] = []
    stack: list[ast.AST] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            names.append(node)
            continue
        if isinstance(node, ast.Compare | ast.Lambda | ast.Constant):
            continue
        if UNSANITIZED in sanitizers:
            stack.extend(ast.iter_child_nodes(node))
            continue
        if isinstance(node, ast.Subscript):
            stack.append(node.value)  # the key selects; the container's values flow
            continue
        if isinstance(node, ast.Attribute) and sanitizers and ctx.qualname(node) in sanitizers:
            continue
        if isinstance(node, ast.Call):
            callee = dotted(node.func) or ""
            qualified = ctx.qualname(node.func) or callee
            if qualified in VALUE_SANITIZERS or qualified in sanitizers:
                continue
            if qualified.startswith(HASH_PREFIXES) or qualified in LOOKUP_FUNCTIONS:
                continue
            if qualified in _OPENING_FUNCTIONS:
                continue  # what a file holds is not the path it was opened by
            helper = module_function(node, ctx)
            if helper is not None:  # the arguments that reach the helper's own return value
                stack.extend(_returned_arguments(node, helper, ctx, sanitizers))
                continue
            if isinstance(node.func, ast.Attribute):
                method = node.func.attr
                if method in NEUTRAL_METHODS or method in sanitizers:
                    continue
                if method in LOOKUP_METHODS or store_lookup(node):
                    stack.append(node.func.value)
                    stack.extend(node.args[1:])
                    continue
        stack.extend(ast.iter_child_nodes(node))
    return names


_OPENING_FUNCTIONS = frozenset({"builtins.open", "open", "io.open", "codecs.open"})


def _returned_arguments(
    call: ast.Call,
    helper: ast.FunctionDef | ast.AsyncFunctionDef,
    ctx: PythonContext,
    sanitizers: frozenset[str],
) -> list[ast.expr]:
    """The arguments of ``call`` passed to parameters that reach ``helper``'s return value
    (all of them past a ``*args``, and keywords the helper does not name positionally)."""
    returned = set(returned_parameters(helper, ctx, sanitizers))
    params = [a.arg for a in [*helper.args.posonlyargs, *helper.args.args]]
    found: list[ast.expr] = []
    for position, argument in enumerate(call.args):
        if isinstance(argument, ast.Starred):
            found.extend(call.args[position:])
            break
        if position in returned or position >= len(params):
            found.append(argument)
    for keyword in call.keywords:
        name = keyword.arg
        if name is None or name not in params or params.index(name) in returned:
            found.append(keyword.value)
    return found


_GROWING_METHODS = frozenset({"append", "extend", "insert", "add", "update", "appendleft"})


def _grown_containers(
    function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> dict[str, list[ast.expr]]:
    """What each local container is grown with (``clauses.append(f"city = '{city}'")``): its
    items flow where the container does (``" AND ".join(clauses)``)."""
    grown: dict[str, list[ast.expr]] = {}
    for node in own_nodes(function, ctx):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _GROWING_METHODS
            and isinstance(node.func.value, ast.Name)
        ):
            grown.setdefault(node.func.value.id, []).extend(node.args)
    return grown
