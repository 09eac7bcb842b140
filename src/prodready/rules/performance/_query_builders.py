"""Performance: queries built in a loop but not run there (PRF017 leaves them alone)."""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext
from prodready.plugin.analysis import DJANGO_LAZY_METHODS, QueryChain, dotted

# SQLAlchemy ``Query`` methods that turn the query into an expression of another statement (a
# subquery, an EXISTS clause, a CTE) instead of running it -- unlike Django's ``exists()``.
_SQLALCHEMY_EXPRESSIONS = frozenset(
    {"subquery", "scalar_subquery", "as_scalar", "exists", "cte", "label", "lateral"}
)
# ... and those that write the rows the query selects: a per-item write, not an N+1 read.
_SQLALCHEMY_WRITES = frozenset({"update", "delete"})
# Methods of a SQLAlchemy query that run it.
_SQLALCHEMY_RUNS = frozenset(
    {"all", "first", "one", "one_or_none", "scalar", "count", "get", "execute", "scalars"}
    | {"scalar_one", "scalar_one_or_none", "get_one", "exec", "fetchall", "fetchone"}
)


def _builds_without_running(chain: QueryChain, ctx: PythonContext) -> bool:
    """The chain builds a query but runs none in the loop: a Django queryset correlated to an
    outer query (``filter(order=OuterRef("pk"))``, usable only inside ``Exists()``/
    ``Subquery()``); a SQLAlchemy query turned into a subquery or EXISTS clause, or kept in a
    local that is only ever turned into one; a SQLAlchemy bulk UPDATE/DELETE (a per-item
    write, not a read); or a probe for a row no other worker has locked."""
    if any(_probes_lock(call) for call in chain.calls):
        return True
    if chain.orm == "django":
        return any(
            _correlated(argument)
            for call in chain.calls
            for argument in (*call.args, *(k.value for k in call.keywords))
        ) or _held_unevaluated(chain.node, ctx)
    steps = set(chain.steps)
    if steps & (_SQLALCHEMY_EXPRESSIONS | _SQLALCHEMY_WRITES):
        return True
    if chain.statement is not None or steps & _SQLALCHEMY_RUNS:
        return False
    return _only_turned_into_expressions(chain.node, ctx)


# Queryset methods that write the rows selected in one statement, reading none back.
_DJANGO_BULK_WRITES = frozenset({"delete", "update", "_raw_delete"})


def _held_unevaluated(query: ast.AST, ctx: PythonContext) -> bool:
    """``hooks = Hook.objects.filter(...)`` whose every later use keeps it a query: refined
    into a subquery (``Exists(hooks.filter(...))``, ``Subquery(...)``, ``x__in=hooks``) or
    written in bulk (``hooks.delete()``, ``hooks.update(...)``): no read of its rows runs."""
    uses = _later_uses(query, ctx)
    parents = ctx.parents()
    return bool(uses) and all(_stays_a_query(use, parents) for use in uses)


def _later_uses(query: ast.AST, ctx: PythonContext) -> list[ast.Name]:
    """The reads, in the running function, of the one name ``query`` is assigned to
    (``q = session.query(X)...``); none when it is not assigned to a single name."""
    assignment = ctx.parents().get(id(query))
    function = ctx.function
    if (
        not isinstance(assignment, ast.Assign)
        or len(assignment.targets) != 1
        or not isinstance(assignment.targets[0], ast.Name)
        or function is None
    ):
        return []
    name = assignment.targets[0].id
    return [
        node
        for node in ast.walk(function.node)
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load)
    ]


def _stays_a_query(use: ast.Name, parents: dict[int, ast.AST]) -> bool:
    expr: ast.AST = use
    while True:
        attribute = parents.get(id(expr))
        call = parents.get(id(attribute)) if attribute is not None else None
        if not (
            isinstance(attribute, ast.Attribute)
            and isinstance(call, ast.Call)
            and call.func is attribute
        ):
            break
        if attribute.attr in _DJANGO_BULK_WRITES:
            return True
        if attribute.attr not in DJANGO_LAZY_METHODS:
            return False
        expr = call
    holder = parents.get(id(expr))
    if isinstance(holder, ast.keyword):
        return (holder.arg or "").endswith("__in")
    if isinstance(holder, ast.Call) and expr in holder.args:
        return (dotted(holder.func) or "").rsplit(".", 1)[-1] in {"Exists", "Subquery"}
    return False


def _correlated(argument: ast.AST) -> bool:
    """``OuterRef(...)`` in an argument of the chain itself (``filter(order=OuterRef("pk"))``,
    ``Q(event=OuterRef("pk"))``) -- not one inside a ``Subquery()``/``Exists()`` the chain
    is given, which makes that inner query correlated, not this one."""
    if isinstance(argument, ast.Call):
        name = (dotted(argument.func) or "").rsplit(".", 1)[-1]
        if name == "OuterRef":
            return True
        if name in {"Subquery", "Exists"}:
            return False
    return any(_correlated(child) for child in ast.iter_child_nodes(argument))


def _probes_lock(call: ast.Call) -> bool:
    """``select_for_update(skip_locked=True)`` / ``with_for_update(skip_locked=True)`` (or
    ``nowait=True``): each iteration tries to lock one row and moves on when another worker
    holds it -- a probe for a free row, which one batched query cannot replace."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr not in {
        "select_for_update",
        "with_for_update",
    }:
        return False
    return any(
        k.arg in {"skip_locked", "nowait"}
        and isinstance(k.value, ast.Constant)
        and k.value.value is True
        for k in call.keywords
    )


def _only_turned_into_expressions(query: ast.AST, ctx: PythonContext) -> bool:
    """``q = session.query(X).filter(...)`` whose every later use is ``q.exists()`` or
    ``q.subquery()``: nothing runs it on its own."""
    uses = _later_uses(query, ctx)
    parents = ctx.parents()
    for use in uses:
        attribute = parents.get(id(use))
        if not (
            isinstance(attribute, ast.Attribute)
            and attribute.attr in _SQLALCHEMY_EXPRESSIONS
            and isinstance(parents.get(id(attribute)), ast.Call)
        ):
            return False
    return bool(uses)
