"""Performance: which calls of a synchronous function block the thread that runs it (PRF008).

A synchronous function can only do its I/O synchronously: whatever it calls on a database
driver, an HTTP client, Redis or a subprocess waits on the calling thread. Called from an
``async def``, that thread is the event loop's.
"""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext
from prodready.plugin.analysis import (
    constant_str,
    django_query,
    is_db_session,
    keyword_value,
    walk_nodes,
)
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
# Django queryset methods that run SQL at once (``filter()``/``all()`` wait for iteration).
_DJANGO_EVALUATES = frozenset(
    {"get", "first", "last", "count", "exists", "create", "get_or_create", "update_or_create"}
    | {"bulk_create", "bulk_update", "update", "delete", "aggregate", "earliest", "latest"}
    | {"in_bulk"}
)
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
    if method in _DJANGO_EVALUATES and django_query(node) is not None:
        # Django's synchronous ORM: in an async context it raises SynchronousOnlyOperation
        # (or, with DJANGO_ALLOW_ASYNC_UNSAFE, blocks the loop); the a-prefixed twins await.
        return f"Django ORM {method}()"
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


_PATH_WRITES = frozenset({"write_bytes", "write_text"})
_FILE_WRITES = frozenset({"write", "writelines"})
_OPENERS = frozenset({"builtins.open", "io.open"})


def _write_mode(node: ast.AST, ctx: PythonContext) -> str | None:
    """The mode of ``open(path, "wb")`` (``io.open`` too) when it writes, else None."""
    if not isinstance(node, ast.Call) or ctx.qualname(node.func) not in _OPENERS:
        return None
    mode = node.args[1] if len(node.args) > 1 else keyword_value(node, "mode")
    text = constant_str(mode) if mode is not None else None
    return text if text is not None and any(flag in text for flag in "wax+") else None


def files_opened_for_writing(function: ast.AST, ctx: PythonContext) -> dict[str, str]:
    """Names a function binds to a file it opens for writing (``with open(p, "wb") as out``,
    ``out = open(p, "w")``) -> the mode."""
    found: dict[str, str] = {}
    for node in walk_nodes(function):
        if isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            mode = _write_mode(node.context_expr, ctx)
            if mode is not None:
                found[node.optional_vars.id] = mode
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            mode = _write_mode(node.value, ctx)
            if mode is not None:
                found[node.targets[0].id] = mode
    return found


def file_call(node: ast.Call, ctx: PythonContext, opened: dict[str, str]) -> str | None:
    """A synchronous write of data to the local disk -- a wait as long as the data is big:
    ``shutil.copyfileobj()``, ``Path.write_bytes()``, the ``write()`` of a file opened for
    writing (``opened``: the function's such files). Opening a file is a short system call
    (the writes may be handed to a thread), and reads are left to the whole-file rules: most
    are small files shipped with the service."""
    name = ctx.qualname(node.func) or ""
    if name == "shutil.copyfileobj":
        return "shutil.copyfileobj()"
    func = node.func
    if not isinstance(func, ast.Attribute):
        return None
    receiver = func.value
    if func.attr in _FILE_WRITES:
        if isinstance(receiver, ast.Name) and receiver.id in opened:
            return f"{receiver.id}.{func.attr}() of open(..., {opened[receiver.id]!r})"
        mode = _write_mode(receiver, ctx)
        if mode is not None:
            return f"open(..., {mode!r}).{func.attr}()"
        return None
    if func.attr in _PATH_WRITES:
        kind = ctx.qualname(receiver) or ""
        if (
            kind.startswith("pathlib.")
            or name.startswith("pathlib.")
            or (isinstance(receiver, ast.BinOp) and isinstance(receiver.op, ast.Div))
        ):
            return f"Path.{func.attr}()"
    return None


def _is_zero(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value == 0
