"""Performance: which calls of a synchronous function block the thread that runs it (PRF008).

A synchronous function can only do its I/O synchronously: whatever it calls on a database
driver, an HTTP client, Redis or a subprocess waits on the calling thread. Called from an
``async def``, that thread is the event loop's.
"""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext
from prodready.plugin.analysis import is_db_session
from prodready.rules.performance.blocking_in_async import _blocking_name

# Synchronous DB-API drivers: every method that talks to the server, on the connection or on
# one of its cursors (``psycopg2.connect.cursor.execute``). SQLite runs in the process.
_DRIVER_CONNECTS = (
    "psycopg2.connect.",
    "psycopg.connect.",
    "pymysql.connect.",
    "mysql.connector.connect.",
    "MySQLdb.connect.",
)
_DRIVER_IO = frozenset(
    {"execute", "executemany", "commit", "rollback", "fetchone", "fetchall", "fetchmany"}
    | {"callproc", "copy_expert", "copy_from", "copy_to"}
)
# Session methods that run SQL. A synchronous function cannot await, so the session it uses
# this way is a synchronous one (an ``AsyncSession``'s would return an unawaited coroutine).
_SESSION_IO = frozenset(
    {"commit", "execute", "query", "get", "scalar", "scalars", "flush", "refresh", "merge"}
)
_SQLALCHEMY_PACKAGES = ("sqlalchemy", "sqlmodel", "flask_sqlalchemy")
# A synchronous SQLAlchemy engine opens a server connection.
_ENGINE_IO = frozenset({"connect", "begin", "execute"})


def blocking_call(node: ast.Call, ctx: PythonContext) -> str | None:
    """What ``node`` blocks on (``requests.post()``, ``psycopg2 cursor.execute()``), or None
    when it is not known to wait on I/O."""
    name = ctx.qualname(node.func) or ""
    if name and _blocking_name(name):
        if name == "time.sleep" and node.args and _is_zero(node.args[0]):
            return None
        return f"{name}()"
    return database_call(node, ctx)


def database_call(node: ast.Call, ctx: PythonContext) -> str | None:
    """A call of a synchronous database client (a DB-API driver, a SQLAlchemy session or
    engine) that waits on the server -- which PRF016's list of blocking calls does not name."""
    name = ctx.qualname(node.func) or ""
    func = node.func
    if not isinstance(func, ast.Attribute):
        return None
    method = func.attr
    if method in _DRIVER_IO and name.startswith(_DRIVER_CONNECTS):
        return f"{name.split('.', 1)[0]} {method}()"
    if method in _ENGINE_IO and name.startswith("sqlalchemy.create_engine."):
        return f"engine.{method}()"
    if method == "get" and not _model_class(node.args[0] if node.args else None):
        return None  # ``session.get(url)``: an HTTP session named like a database one
    receiver = func.value
    if (
        method in _SESSION_IO
        and isinstance(receiver, ast.Name | ast.Attribute)  # not ``(await ...).scalars()``
        and "Async" not in (ctx.qualname(receiver) or "")  # an ``AsyncSession`` parameter
        and is_db_session(receiver, ctx)
        and _uses_sqlalchemy(ctx)
    ):
        return f"session.{method}() of a synchronous SQLAlchemy session"
    return None


def _uses_sqlalchemy(ctx: PythonContext) -> bool:
    """A session-like name (``db``, ``session``) is a SQLAlchemy session only in a module that
    uses SQLAlchemy: elsewhere ``db`` is as often a DB-API (SQLite) connection."""
    return any(module.startswith(_SQLALCHEMY_PACKAGES) for module, _ in ctx.facts.imports)


def _model_class(expr: ast.expr | None) -> bool:
    """``Order`` / ``models.Order``: what ``session.get(Model, key)`` takes first."""
    if isinstance(expr, ast.Attribute):
        return expr.attr[:1].isupper()
    return isinstance(expr, ast.Name) and expr.id[:1].isupper()


def _is_zero(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value == 0
