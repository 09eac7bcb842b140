"""Sinks inside methods of project classes that another module feeds through an instance.

A repository or service class (``class OrderRepository: def search(self, term): ...
execute(text(_build_sql(term)))``) is called from a handler of another module as
``OrderRepository(db).search(q)`` or ``repo = OrderRepository(db); repo.search(q)``. Both
sides use the facts of :mod:`prodready.engine.taint.reach`, with the method's qualified name
(``pkg.db.OrderRepository.search``) and its parameters counted without ``self`` -- the way the
caller passes them.
"""

from __future__ import annotations

import ast

from prodready.engine.python import PythonContext
from prodready.engine.taint.call_sites import positional_parameters
from prodready.engine.taint.project_facts import states_facts
from prodready.engine.taint.propagation import Tracer
from prodready.engine.taint.sources import client_route

_NOT_PLAIN = frozenset({"staticmethod", "classmethod", "property"})


def enclosing_method(ctx: PythonContext) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The enclosing function when it is a plain method (taking ``self``) of a module-level
    class, not an HTTP handler, with parameters besides ``self``: its callers, anywhere in the
    project, choose its arguments."""
    scope = ctx.function
    if scope is None or scope.parent is not None or scope.class_info is None:
        return None
    if scope.class_info.node not in ctx.tree.body or client_route(scope, ctx) is not None:
        return None
    method = scope.node
    if any(
        (decorator.id if isinstance(decorator, ast.Name) else "") in _NOT_PLAIN
        for decorator in method.decorator_list
    ) or any(not isinstance(decorator, ast.Name) for decorator in method.decorator_list):
        return None
    if len(positional_parameters(method)) < 2:
        return None
    return method


def method_qualname(ctx: PythonContext, method: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    scope = ctx.function
    owner = scope.class_info.node.name if scope is not None and scope.class_info else ""
    name = f"{owner}.{method.name}"
    return f"{ctx.module}.{name}" if ctx.module else name


def caller_positions(reached: set[int]) -> frozenset[int]:
    """The method's reached parameter positions as a caller passes them (``self`` dropped)."""
    return frozenset(position - 1 for position in reached if position >= 1)


def instance_method_callee(call: ast.Call, ctx: PythonContext) -> str | None:
    """``Repository(db).search(q)`` or ``repo.search(q)`` with ``repo = Repository(db)``, where
    ``Repository`` is a class imported from the project: ``pkg.db.Repository.search``."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr.startswith("_"):
        return None
    receiver: ast.expr | None = func.value
    if isinstance(receiver, ast.Name):
        receiver = ctx.value_of(receiver.id)
    if not (isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name)):
        return None
    name = receiver.func.id
    target = ctx.facts.bindings.get(name)
    if not isinstance(target, str) or not name[:1].isupper() or "." not in target:
        return None  # not a class imported by name
    return f"{target}.{func.attr}"


def method_sink(
    values: list[ast.AST],
    ctx: PythonContext,
    sanitizers: frozenset[str],
    web_only: bool,
) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, frozenset[int], str, tuple[str, ...]] | None:
    """A sink in a method reached only by the method's parameters: the method, the positions
    of those parameters as a caller passes them (``self`` dropped), its name within the module
    (``OrderRepository.search``) and its parameters without ``self`` -- for a finding that
    stands only when another module passes request data to one of them through an instance.
    None when no parameter reaches the sink."""
    method = enclosing_method(ctx)
    if method is None or not states_facts(ctx):
        return None
    params = positional_parameters(method)
    reached: set[int] = set()
    for value in values:
        tracer = Tracer(ctx, sanitizers, web_only, params=params)
        tracer.run(value)
        narrowed = _path_narrowed(value, method, ctx)
        reached |= tracer.reached - {params[name] for name in narrowed if name in params}
    positions = caller_positions(reached)
    if not positions:
        return None
    qualname = method_qualname(ctx, method)
    short = ".".join(qualname.rsplit(".", 2)[-2:])
    return method, positions, short, tuple(list(params)[1:])


_PATH_TYPES = frozenset({"Path", "PurePath", "PosixPath", "pathlib.Path", "pathlib.PurePath"})


def _path_narrowed(
    value: ast.AST, method: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> set[str]:
    """Parameters the value is only used with inside ``if isinstance(param, Path):`` -- request
    data (text, bytes, numbers, JSON) is never a ``Path``, so no caller's request data takes
    that branch."""
    names: set[str] = set()
    node: ast.AST | None = value
    while node is not None and node is not method:
        parent = ctx.parent(node)
        if (
            isinstance(parent, ast.If)
            and node in parent.body
            and isinstance(parent.test, ast.Call)
            and isinstance(parent.test.func, ast.Name)
            and parent.test.func.id == "isinstance"
            and len(parent.test.args) == 2
            and isinstance(parent.test.args[0], ast.Name)
            and ast.unparse(parent.test.args[1]) in _PATH_TYPES
        ):
            names.add(parent.test.args[0].id)
        node = parent
    return names
