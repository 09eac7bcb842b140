"""CON009's state claims written in SQL: a row read with a driver (a tuple or a mapping), its
state compared with a constant, money moved, then the state set by an ``UPDATE`` that does not
re-check it -- two requests both read the old state and both pay."""

from __future__ import annotations

import ast
import re

from prodready.plugin import PythonContext
from prodready.plugin.analysis import walk_body
from prodready.rules.concurrency._state_claims import _moves_money

_OPAQUE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_EQUALITY = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)
_STATE_UPDATE = re.compile(
    r"^\s*UPDATE\s+(?P<table>[\w.\"]+)\s+SET\s+(?P<sets>.+?)(?:\s+WHERE\s+(?P<where>.*))?$",
    re.I | re.S,
)
_LITERAL_SET = re.compile(r"(?P<column>[\w\"]+)\s*=\s*'[^']*'")


def _exits(body: list[ast.stmt]) -> bool:
    last = body[-1] if body else None
    return isinstance(last, ast.Return | ast.Raise)


def _row_state(test: ast.expr) -> tuple[str, str | int] | None:
    """``row[4] != "funded"``, ``row["status"] not in ("open",)``: (row, field or index)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    right = test.comparators[0]
    if not isinstance(test.ops[0], _EQUALITY):
        return None
    if not isinstance(right, ast.Constant | ast.Tuple | ast.List | ast.Set):
        return None
    if isinstance(right, ast.Constant) and not isinstance(right.value, str):
        return None
    left = test.left
    if (
        isinstance(left, ast.Subscript)
        and isinstance(left.value, ast.Name)
        and isinstance(left.slice, ast.Constant)
        and isinstance(left.slice.value, str | int)
        and not isinstance(left.slice.value, bool)
    ):
        return left.value.id, left.slice.value
    return None


def _sql_text(call: ast.Call, ctx: PythonContext) -> str | None:
    if not call.args:
        return None
    first: ast.expr | None = call.args[0]
    if isinstance(first, ast.Name):
        first = ctx.value_of(first.id)
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def _unchecked_state_update(call: ast.Call, field: str | int, ctx: PythonContext) -> str | None:
    """The column an ``UPDATE`` sets to a literal state (``SET status = 'released'``) without
    its WHERE re-checking that column (``AND status = 'funded'`` makes the loser update no
    row). A tuple row's field is known only by position: any column set to a literal."""
    text = _sql_text(call, ctx)
    found = _STATE_UPDATE.match(text) if text else None
    if found is None:
        return None
    where = (found.group("where") or "").lower()
    for assignment in _LITERAL_SET.finditer(found.group("sets")):
        column = assignment.group("column").strip('"').lower()
        if isinstance(field, str) and column != field.lower():
            continue
        if re.search(rf"\b{re.escape(column)}\b", where):
            continue
        return column
    return None


def sql_state_then_effect(
    function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> bool:
    """``if escrow[4] != "funded": return`` -- ``payout_seller(...)`` -- ``UPDATE escrows SET
    status = 'released' WHERE id = %s``. Reported at the ``if``; True when reported."""
    checks: list[tuple[ast.If, tuple[str, str | int]]] = []
    charged: tuple[ast.If, tuple[str, str | int], ast.Call] | None = None
    for item in walk_body(function.body):
        if isinstance(item, _OPAQUE):
            continue
        if charged is None and isinstance(item, ast.If) and _exits(item.body):
            key = _row_state(item.test)
            if key is not None:
                checks.append((item, key))
        elif not isinstance(item, ast.Call) or not checks:
            continue
        elif charged is None and _moves_money(item, ctx):
            test, key = checks[-1]
            if item.lineno > (test.end_lineno or test.lineno):
                charged = (test, key, item)
        elif charged is not None:
            test, (_row, field), money = charged
            column = _unchecked_state_update(item, field, ctx)
            if column is None:
                continue
            ctx.report(
                test,
                f"`{ctx.segment(test.test)}` is checked on a row read without a lock, then "
                f"{ctx.segment(money.func)}() moves money (line {money.lineno}) before the "
                f"statement on line {item.lineno} sets {column} without re-checking it: two "
                "concurrent requests both read the old state and both pay. Claim the state "
                f"first (set {column} only where it still holds the expected value, and go on "
                "only when one row changed) or lock the row while deciding, and pass an "
                "idempotency key to the provider",
            )
            return True
    return False
