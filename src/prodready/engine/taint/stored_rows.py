"""Stored-row checks: a value looked up with a parameterised query, the function giving up when
no row has it, is one of the values the service stored -- a table it keeps used as an
allow-list (``STORED_ROW_CHECK``, asked for by SQL sinks, where an identifier such as a schema
name cannot be a query parameter).

    row = db.execute("SELECT 1 FROM tenants WHERE slug = ?", (slug,)).fetchone()
    if row is None:
        raise LookupError(slug)
    db.execute(f"DROP SCHEMA tenant_{slug}")      # slug names a tenant the service recorded

Also ``cur.execute(<constant SQL>, {"slug": slug}); row = cur.fetchone()`` and the awaited
one-call forms of async drivers (``await db.fetchone(<constant SQL>, {...})``). The guard must
leave the function (``raise``, ``return``, ``abort(...)``) when the row is missing: a lookup whose
miss is only logged proves nothing.
"""

from __future__ import annotations

import ast

from prodready.engine.analysis import constant_str

_FETCH_ONE = frozenset(
    {"fetchone", "fetch_one", "fetchrow", "fetchval", "fetch_val", "first", "one", "one_or_none"}
    | {"scalar", "scalar_one", "scalar_one_or_none"}
)
_RUN = frozenset({"execute", "exec_driver_sql"})
_EXITING = frozenset({"abort", "exit", "fail", "quit"})


def stored_row_checked(function: ast.AST) -> set[str]:
    """The names ``function`` looks up as a stored row, leaving when none is found."""
    lookups: dict[str, set[str]] = {}  # name bound to a row -> the names it was looked up by
    executed: dict[str, set[str]] = {}  # cursor name -> the names its last lookup passed
    checked: set[str] = set()
    for statement in _statements(function):
        if isinstance(statement, ast.Expr):
            call = _unawaited(statement.value)
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
                cursor = call.func.value
                passed = _lookup_parameters(call) if call.func.attr in _RUN else None
                if isinstance(cursor, ast.Name) and passed is not None:
                    executed[cursor.id] = passed
        elif isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            target = targets[0]
            if len(targets) == 1 and isinstance(target, ast.Name) and statement.value is not None:
                passed = _row_lookup(statement.value, executed)
                if passed:
                    lookups[target.id] = passed
                else:
                    lookups.pop(target.id, None)
        elif isinstance(statement, ast.If) and _leaves(statement.body):
            missing = _missing_row(statement.test)
            if missing is not None and missing in lookups:
                checked |= lookups[missing]
    return checked


def _statements(function: ast.AST) -> list[ast.stmt]:
    """The function's own top-level statements, in order (a lookup in a branch may not run)."""
    body = getattr(function, "body", None)
    return [s for s in body if isinstance(s, ast.stmt)] if isinstance(body, list) else []


def _unawaited(expr: ast.expr) -> ast.expr:
    return expr.value if isinstance(expr, ast.Await) else expr


def _row_lookup(value: ast.expr, executed: dict[str, set[str]]) -> set[str] | None:
    """``X.fetchone()`` after a lookup run on cursor ``X``, ``db.execute(SQL, params)
    .fetchone()``, or ``await db.fetchone(SQL, params)``: the names passed as parameters."""
    call = _unawaited(value)
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
        return None
    if call.func.attr not in _FETCH_ONE:
        return None
    if call.args:
        return _lookup_parameters(call)
    owner = _unawaited(call.func.value)
    if isinstance(owner, ast.Name):
        return executed.get(owner.id)
    run = isinstance(owner, ast.Call) and isinstance(owner.func, ast.Attribute)
    if run and isinstance(owner, ast.Call) and getattr(owner.func, "attr", "") in _RUN:
        return _lookup_parameters(owner)
    return None


def _lookup_parameters(call: ast.Call) -> set[str] | None:
    """The names passed as parameters of a constant ``SELECT ... WHERE`` statement."""
    if len(call.args) < 2:
        return None
    sql = constant_str(call.args[0])
    if sql is None or "select" not in sql.lower() or "where" not in sql.lower():
        return None
    params = call.args[1]
    if isinstance(params, ast.Dict):
        values: list[ast.expr] = list(params.values)
    elif isinstance(params, ast.Tuple | ast.List):
        values = list(params.elts)
    else:
        return None
    return {value.id for value in values if isinstance(value, ast.Name)}


def _missing_row(test: ast.expr) -> str | None:
    """``not row``, ``row is None``: the row name the test is true for when it is missing."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        operand = test.operand
        return operand.id if isinstance(operand, ast.Name) else None
    if (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Is)
        and isinstance(test.left, ast.Name)
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value is None
    ):
        return test.left.id
    return None


def _leaves(body: list[ast.stmt]) -> bool:
    """The block ends the function or the request."""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, ast.Raise | ast.Return):
        return True
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        func = last.value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in _EXITING
    return False
