"""CON009's check-then-insert in SQL beyond literal statements: the SELECT or the INSERT built
by SQLAlchemy Core (``select(readings)``, ``insert(readings).values(...)``) or the INSERT
returned by a project helper named for it (``build_reading_insert(...)``, whose text the
scan does not see) -- still two runs that both find nothing and both insert."""

from __future__ import annotations

import ast

from prodready.plugin.analysis import dotted

_RUNNERS = frozenset({"execute", "exec_driver_sql", "executemany", "fetchrow", "fetchval"})


def _statement_argument(call: ast.Call) -> ast.expr | None:
    func = call.func
    last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if last not in _RUNNERS or not call.args:
        return None
    return call.args[0]


def _core_table(expr: ast.expr, verb: str) -> str | None:
    """``select(Reading)...``/``insert(readings).values(...)``: the table or model, lowered."""
    while isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        expr = expr.func.value  # walk down ``.where(...)``/``.values(...)``
    if not isinstance(expr, ast.Call) or not expr.args:
        return None
    if (dotted(expr.func) or "").rsplit(".", 1)[-1] != verb:
        return None
    table = dotted(expr.args[0])
    return table.rsplit(".", 1)[-1].lower() if table else None


def core_selected(call: ast.Call) -> str | None:
    """The table a SQLAlchemy Core ``select(...)`` run by ``call`` reads."""
    argument = _statement_argument(call)
    return _core_table(argument, "select") if argument is not None else None


def built_insert(call: ast.Call, selected: set[str]) -> str | None:
    """What ``call`` inserts, as the message names it, when it runs an INSERT it did not
    spell: ``insert(t)`` of a table read before, or the statement of a helper named for an
    insert (the table unknown: named by the helper)."""
    argument = _statement_argument(call)
    if argument is None:
        return None
    table = _core_table(argument, "insert")
    if table is not None:
        return f"a row of {table}" if table in selected else None
    if isinstance(argument, ast.Call):
        name = (dotted(argument.func) or "").rsplit(".", 1)[-1]
        if "insert" in name.lower():
            return f"the row of {name}()"
    return None
