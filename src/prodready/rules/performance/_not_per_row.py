"""Data access: queries inside a loop over rows that do not run once per row, or that no
prefetch could replace (PRF017 leaves them alone): a row re-read under a lock, a lookup
remembered until the key changes, a queryset used as a subquery -- or that are the read half
of an upsert per item (reported at low)."""

from __future__ import annotations

import ast
from collections.abc import Callable

from prodready.plugin import PythonContext
from prodready.plugin.analysis import QueryChain
from prodready.rules.data_access._shared import _references
from prodready.rules.data_access._written_in_transaction import _is_atomic


def _refreshes_under_lock(
    chain: QueryChain, ctx: PythonContext, variables: dict[str, ast.AST]
) -> bool:
    """``row = Model.objects.select_for_update().get(pk=row.pk)`` for the row a loop iterates:
    the row re-read by its own key under a row lock (Django allows it only in a transaction)
    and kept, to check and write the fresh copy -- a lock-and-refresh, which a prefetch cannot
    replace. A lookup of another row (``pk=row.voucher_id``) stays an N+1, and so does a lock
    whose row is not kept (rows locked one by one: one ``filter(pk__in=...)`` locks them all)."""
    if "select_for_update" not in chain.steps:
        return False
    if not isinstance(ctx.parents().get(id(chain.node)), ast.Assign):
        return False
    own_keys = 0
    rest: list[ast.expr] = []
    for call in chain.calls:
        rest.extend(call.args)
        for keyword in call.keywords:
            value = keyword.value
            if (
                keyword.arg in {"pk", "id"}
                and isinstance(value, ast.Attribute)
                and value.attr in {"pk", "id"}
                and isinstance(value.value, ast.Name)
                and value.value.id in variables
            ):
                own_keys += 1
            else:
                rest.append(value)
    return own_keys > 0 and not _references(rest) & variables.keys()


def _locked_in_own_transaction(chain: QueryChain, ctx: PythonContext) -> bool:
    """``with transaction.atomic(): row = Model.objects.select_for_update()...get()`` with the
    transaction opened inside the loop, once per item: the lock is taken under that item's own
    transaction and ends with it, so no query before the loop could take it. (One transaction
    around the whole loop locking rows one by one stays an N+1: one ``filter(pk__in=...)``
    locks them all.)"""
    if "select_for_update" not in chain.steps:
        return False
    parents = ctx.parents()
    loop = ctx.loops[-1]
    current = parents.get(id(chain.node))
    while current is not None and current is not loop:
        if isinstance(current, ast.With | ast.AsyncWith) and any(
            _is_atomic(item.context_expr, ctx) for item in current.items
        ):
            return True
        current = parents.get(id(current))
    return False


def _pages_through(chain: QueryChain, ctx: PythonContext) -> bool:
    """``while True: batch = qs.filter(id__gt=last_id)...[:500]; ...; last_id = batch[-1]``: a
    slice of rows after a cursor the ``while`` loop moves on after each query -- one query per
    batch of rows (keyset pagination), not one per row."""
    loop = ctx.loops[-1]
    holder = ctx.parents().get(id(chain.node))
    sliced = chain.sliced or (
        isinstance(holder, ast.Subscript)
        and isinstance(holder.slice, ast.Slice)
        and holder.slice.upper is not None
    )
    if not isinstance(loop, ast.While) or not sliced:
        return False
    line = getattr(chain.node, "lineno", 0)
    moved = {
        target.id
        for statement in ast.walk(loop)
        if isinstance(statement, ast.Assign) and statement.lineno > line
        for target in statement.targets
        if isinstance(target, ast.Name)
    }
    return bool(moved & _references(list(chain.arguments())))


def _subquery_argument(node: ast.Call, ctx: PythonContext) -> bool:
    """The queryset is passed unevaluated as the value of an ``__in=`` lookup
    (``filter(code__in=rule.channels.values_list("code"))``): Django compiles it into a
    subquery of the outer query, which runs once."""
    parent = ctx.parents().get(id(node))
    return isinstance(parent, ast.keyword) and (parent.arg or "").endswith("__in")


def _under_key_change_guard(node: ast.Call, ctx: PythonContext) -> bool:
    """The query sits under ``if row.key != current_key ...:`` whose body remembers the key
    (``current_key = row.key``): it runs once per group of consecutive rows sharing the key (a
    loop over rows ordered by it), not once per row."""
    parents = ctx.parents()
    loop = ctx.loops[-1]
    child: ast.AST = node
    current = parents.get(id(node))
    while current is not None and current is not loop:
        if isinstance(current, ast.If) and any(child is item for item in current.body):
            remembered = {
                target.id
                for statement in current.body
                if isinstance(statement, ast.Assign)
                for target in statement.targets
                if isinstance(target, ast.Name)
            }
            if remembered & _compared_for_change(current.test):
                return True
        child, current = current, parents.get(id(current))
    return False


def _compared_for_change(test: ast.expr) -> set[str]:
    """The names a test compares with ``!=`` (``row.key != current``): a change of key."""
    found: set[str] = set()
    for compare in ast.walk(test):
        if not isinstance(compare, ast.Compare):
            continue
        if not all(isinstance(op, ast.NotEq | ast.IsNot) for op in compare.ops):
            continue
        for side in (compare.left, *compare.comparators):
            if isinstance(side, ast.Name):
                found.add(side.id)
    return found


def _alternative_reported(node: ast.AST, ctx: PythonContext, reported: set[int]) -> bool:
    """The query is one branch of ``a if test else b`` whose other branch was reported: the two
    never both run, so one finding says it (``item.quotas.filter(...) if variation is None
    else variation.quotas.filter(...)``). Records the conditional expression otherwise."""
    parents = ctx.parents()
    child: ast.AST = node
    current = parents.get(id(node))
    while current is not None and not isinstance(current, ast.stmt):
        if isinstance(current, ast.IfExp) and child is not current.test:
            if id(current) in reported:
                return True
            reported.add(id(current))
        child, current = current, parents.get(id(current))
    return False


def _missing_branch(test: ast.expr, name: str, statement: ast.If) -> list[ast.stmt]:
    """The statements of ``if``/``else`` that run when ``name`` holds no row (None, falsy)."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return statement.body if _names(test.operand, name) else []
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and _names(test.left, name):
        right = test.comparators[0]
        if isinstance(right, ast.Constant) and right.value is None:
            if isinstance(test.ops[0], ast.Is):
                return statement.body
            if isinstance(test.ops[0], ast.IsNot):
                return statement.orelse
        return []
    if _names(test, name):
        return statement.orelse
    # ``if row and ...:`` is false when the row is missing: its else runs.
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        present = any(_names(value, name) or _tests_present(value, name) for value in test.values)
        return statement.orelse if present else []
    return []


def _names(expr: ast.expr, name: str) -> bool:
    return isinstance(expr, ast.Name) and expr.id == name


def _tests_present(expr: ast.expr, name: str) -> bool:
    return (
        isinstance(expr, ast.Compare)
        and len(expr.ops) == 1
        and isinstance(expr.ops[0], ast.IsNot)
        and _names(expr.left, name)
        and isinstance(expr.comparators[0], ast.Constant)
        and expr.comparators[0].value is None
    )


def _upserted_per_item(
    node: ast.AST, ctx: PythonContext, writes_row: Callable[[ast.Call, PythonContext], bool]
) -> bool:
    """``row = <lookup>``, then ``if row is None: <insert a row>`` with an ``else``/``elif``
    that updates the row found, in the loop: the lookup is the read half of an upsert per item.
    Every item costs its write anyway, so prefetching the lookups does not remove the round
    trips; one bulk upsert does. A lookup whose missing case inserts nothing stays an N+1."""
    loop = ctx.loops[-1]
    assigned = ctx.parents().get(id(node))
    if isinstance(assigned, ast.Await):
        assigned = ctx.parents().get(id(assigned))
    if not (
        isinstance(assigned, ast.Assign)
        and len(assigned.targets) == 1
        and isinstance(assigned.targets[0], ast.Name)
    ):
        return False
    name = assigned.targets[0].id
    for statement in ast.walk(loop):
        if not isinstance(statement, ast.If) or statement.lineno <= assigned.lineno:
            continue
        missing = _missing_branch(statement.test, name, statement)
        if _inserts(missing, name, ctx, writes_row) and _updates(statement, name):
            return True
    return False


def _inserts(
    statements: list[ast.stmt],
    name: str,
    ctx: PythonContext,
    writes_row: Callable[[ast.Call, PythonContext], bool],
) -> bool:
    """A row is written there, and not through ``name`` (``row.save()`` is the row found)."""
    for statement in statements:
        for inner in ast.walk(statement):
            if isinstance(inner, ast.Call) and writes_row(inner, ctx):
                func = inner.func
                if not (isinstance(func, ast.Attribute) and _names(func.value, name)):
                    return True
    return False


def _updates(statement: ast.If, name: str) -> bool:
    """The row found is changed: ``row.field = ...``, ``setattr(row, ...)``, ``row.save()``.
    Only inserting what is missing (a dedup while ingesting) is not an upsert: it stays an
    N+1 of lookups."""
    for inner in ast.walk(statement):
        if (
            isinstance(inner, ast.Attribute)
            and isinstance(inner.ctx, ast.Store)
            and _names(inner.value, name)
        ):
            return True
        if (
            isinstance(inner, ast.Call)
            and isinstance(inner.func, ast.Name)
            and inner.func.id == "setattr"
            and inner.args
            and _names(inner.args[0], name)
        ):
            return True
    return False
