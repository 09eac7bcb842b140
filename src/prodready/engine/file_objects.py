"""Values that are open file objects, not file paths.

``send_file(output)`` and ``FileResponse(output)`` take a path or an object already open: an
in-memory buffer (``io.BytesIO()`` filled with an export) names no file, so whatever the
request said about what to put in it, no ``../`` reaches the file system through it. A function
whose every return is such an object -- built in it, by another such function of its module,
or by one picked from a module-level dispatch table (``EXPORTERS[name]()``) -- returns no path
for any argument: path sinks of other modules learn it from the project facts it states.
"""

from __future__ import annotations

import ast

from prodready.engine.analysis import function_flow, module_function
from prodready.engine.python import ModuleMemo, PythonContext
from prodready.engine.semantic.guards import PATH_KIND, clean_fact
from prodready.model import ProjectFact

# Constructors of objects that are already open: what they return is a file, not a name of one.
OPEN_FILE_CONSTRUCTORS = frozenset(
    {"io.BytesIO", "io.StringIO", "tempfile.TemporaryFile", "tempfile.SpooledTemporaryFile"}
    | {"tempfile.NamedTemporaryFile"}
)
_MAX_DEPTH = 6
_LOOKUP_METHODS = frozenset({"get"})
Function = ast.FunctionDef | ast.AsyncFunctionDef


def file_object(expr: ast.expr, ctx: PythonContext, function: Function | None = None) -> bool:
    """``expr`` (in ``function``, or where the walk stands) is an open file object: a buffer
    built here, a name bound only to one, or what a function of this module returning one
    returns (directly or picked from a dispatch table of such functions)."""
    return _file_object(expr, ctx, function, 0, set())


def returns_file_object(function: Function, ctx: PythonContext) -> bool:
    """Every ``return`` of ``function`` hands back an open file object (and there is one)."""
    return _returns_file_object(function, ctx, 0, set())


def establish_file_object_facts(ctx: PythonContext) -> None:
    """State, for each top-level function of the module that returns only open file objects,
    that none of its parameters reaches a path sink through its return value (once per
    module)."""
    ctx.memo(_ESTABLISHED)


def _establish(ctx: PythonContext) -> bool:
    if ctx.facts.is_test:
        return False
    for node in ctx.tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        args = node.args
        positions: list[int | str] = []
        for index, parameter in enumerate([*args.posonlyargs, *args.args]):
            positions += [index, parameter.arg]
        positions += [parameter.arg for parameter in args.kwonlyargs]
        if args.kwarg is not None:
            positions.append("**")
        if not positions or not returns_file_object(node, ctx):
            continue
        qualname = f"{ctx.module}.{node.name}" if ctx.module else node.name
        for position in positions:
            fact = clean_fact(PATH_KIND, qualname, position)
            ctx.establish(ProjectFact(fact, "the function returns an open file object"))
    return True


_ESTABLISHED: ModuleMemo[bool] = ModuleMemo("file-objects:facts", _establish)


def _returns_file_object(
    function: Function, ctx: PythonContext, depth: int, seen: set[int]
) -> bool:
    if depth > _MAX_DEPTH or id(function) in seen:
        return False
    seen = seen | {id(function)}
    returns = function_flow(function, ctx).returns
    return bool(returns) and all(
        _file_object(value, ctx, function, depth + 1, seen) for value in returns
    )


def _file_object(
    expr: ast.expr, ctx: PythonContext, function: Function | None, depth: int, seen: set[int]
) -> bool:
    if depth > _MAX_DEPTH:
        return False
    if isinstance(expr, ast.Name):
        values = _bound_values(expr.id, ctx, function)
        return bool(values) and all(
            _file_object(value, ctx, function, depth + 1, seen) for value in values
        )
    if not isinstance(expr, ast.Call):
        return False
    if ctx.qualname(expr.func) in OPEN_FILE_CONSTRUCTORS:
        return True
    helper = module_function(expr, ctx)
    if helper is not None:
        return _returns_file_object(helper, ctx, depth + 1, seen)
    # ``EXPORTERS[name]()`` or ``exporter = EXPORTERS.get(name); exporter()``
    chosen = expr.func
    if isinstance(chosen, ast.Name):
        values = _bound_values(chosen.id, ctx, function)
        if len(values) != 1:
            return False
        chosen = values[0]
    table = _dispatch_table(chosen, ctx)
    return table is not None and all(
        _produces_file_object(value, ctx, depth + 1, seen) for value in table
    )


def _bound_values(name: str, ctx: PythonContext, function: Function | None) -> list[ast.expr]:
    if function is not None:
        flow = function_flow(function, ctx)
        if name in flow.augmented or name in flow.outer_names:
            return []
        return list(flow.assigned.get(name, ()))
    value = ctx.value_of(name)
    return [value] if value is not None else []


def _dispatch_table(chosen: ast.expr, ctx: PythonContext) -> list[ast.expr] | None:
    """The values of the module-level dictionary literal ``chosen`` looks one up in
    (``TABLE[key]``, ``TABLE.get(key)``)."""
    if isinstance(chosen, ast.Subscript):
        owner = chosen.value
    elif (
        isinstance(chosen, ast.Call)
        and isinstance(chosen.func, ast.Attribute)
        and chosen.func.attr in _LOOKUP_METHODS
    ):
        owner = chosen.func.value
    else:
        return None
    if not isinstance(owner, ast.Name):
        return None
    found: list[ast.Dict] = []
    for statement in ctx.tree.body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == owner.id for target in statement.targets
        ):
            if not isinstance(statement.value, ast.Dict):
                return None
            found.append(statement.value)
    if len(found) != 1 or not found[0].values:
        return None
    return list(found[0].values)


def _produces_file_object(value: ast.expr, ctx: PythonContext, depth: int, seen: set[int]) -> bool:
    """A dispatch table's entry is a function of the module returning an open file object, or
    a lambda whose body is one."""
    if isinstance(value, ast.Lambda):
        return _file_object(value.body, ctx, None, depth, seen)
    if isinstance(value, ast.Name):
        helper = module_function(ast.Call(func=value, args=[], keywords=[]), ctx)
        return helper is not None and _returns_file_object(helper, ctx, depth, seen)
    return False
