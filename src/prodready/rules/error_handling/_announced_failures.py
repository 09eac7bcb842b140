"""Error handling: a handler whose own message says the failure is tolerated (ERR001).

``except Exception: print("Could not relax the checks. Continuing.")`` -- the author decided at
run time what a ``# best effort`` comment above the ``try`` says in the source: the step is
optional and the work goes on. Whether an outage there should still leave a traceback is the
author's call, which the code does not show -- so the finding drops to low, confidence low. A
handler that only reports the error (``print(f"Restore failed: {error}")``) says nothing of the
kind and stays medium.
"""

from __future__ import annotations

import ast
import re

from prodready.plugin import Confidence, PythonContext, Severity
from prodready.plugin.analysis import log_call

_TOLERATED = re.compile(
    r"\b(?:continuing|ignoring|ignored|proceeding|non-?fatal|best[- ]effort|harmless)\b",
    re.IGNORECASE,
)


def _message_parts(call: ast.Call) -> list[str]:
    texts: list[str] = []
    for arg in call.args[:1]:
        parts = arg.values if isinstance(arg, ast.JoinedStr) else [arg]
        texts.extend(
            part.value
            for part in parts
            if isinstance(part, ast.Constant) and isinstance(part.value, str)
        )
    return texts


def announces_continue(handler: ast.ExceptHandler, ctx: PythonContext) -> bool:
    """A ``print``/log call of the handler says the failure is tolerated ("... Continuing.",
    "ignoring", "non-fatal")."""
    for statement in handler.body:
        call = statement.value if isinstance(statement, ast.Expr) else None
        if not isinstance(call, ast.Call):
            continue
        if ctx.qualname(call.func) != "builtins.print" and log_call(call, ctx) is None:
            continue
        if any(_TOLERATED.search(text) for text in _message_parts(call)):
            return True
    return False


def report_announced_continue(handler: ast.ExceptHandler, caught: str, ctx: PythonContext) -> None:
    ctx.report(
        handler,
        f"{caught} discards the error of a step its own message calls tolerated (the work goes "
        "on): prodready could not tell whether an outage there should still leave a trace; "
        "log unexpected errors with their traceback or catch only the expected ones.",
        severity=Severity.LOW,
        confidence=Confidence.LOW,
    )
