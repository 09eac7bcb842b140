"""Loggers: which expressions are loggers and which calls log."""

from __future__ import annotations

import ast

from prodready.engine.python import PythonContext

LOGGER_NAMES = frozenset({"logger", "log", "_logger", "_log", "LOGGER", "LOG", "logging"})


LOGGER_FACTORIES = ("logging.getLogger", "structlog.get_logger", "structlog.getLogger")


LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"}
)


def is_logger(expr: ast.AST, ctx: PythonContext) -> bool:
    """True for ``logging``, ``logging.getLogger(...)`` results and conventional logger names."""
    name = ctx.qualname(expr)
    if name is None:
        return False
    if name == "logging" or name.startswith(LOGGER_FACTORIES):
        return True
    last = name.rsplit(".", 1)[-1]
    return last in LOGGER_NAMES or last.endswith(("logger", "_log"))


def log_call(call: ast.Call, ctx: PythonContext) -> str | None:
    """The logging method (``error``, ``exception``...) when ``call`` is a logging call."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in LOG_METHODS and is_logger(func.value, ctx):
        return func.attr
    return None
