"""Error handling: a ``try`` whose only work is refreshing a modification timestamp (ERR001).

``obj.updated_at = timezone.now(); obj.save(update_fields=["updated_at"])`` (or
``Model.objects.filter(...).update(updated_at=now())``) inside ``try/except Exception: pass``
bumps bookkeeping that some list sorts by: a failure leaves the timestamp stale, nothing the
request promised is lost. Whether an outage there should still leave a trace is the author's
call, which the code does not show -- so the finding drops to low, confidence low.
"""

from __future__ import annotations

import ast

from prodready.plugin import Confidence, PythonContext, Severity
from prodready.plugin.analysis import dotted

_CLOCKS = ("now", "utcnow", "time", "today")
_TIMESTAMP_SUFFIXES = ("_at", "_on", "_time", "_ts", "timestamp", "modified", "updated")


def _timestamp_field(name: str) -> bool:
    return name.lower().endswith(_TIMESTAMP_SUFFIXES)


def _clock_reading(expr: ast.expr, ctx: PythonContext) -> bool:
    """``timezone.now()``, ``datetime.utcnow()``, ``time.time()``, ``func.now()``."""
    if not isinstance(expr, ast.Call) or expr.args or expr.keywords:
        return False
    name = ctx.qualname(expr.func) or dotted(expr.func) or ""
    return name.rsplit(".", 1)[-1] in _CLOCKS


def _string_list(expr: ast.expr | None) -> list[str] | None:
    if not isinstance(expr, ast.List | ast.Tuple):
        return None
    names = [e.value for e in expr.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return names if len(names) == len(expr.elts) else None


def timestamp_touch(attempt: list[ast.stmt], ctx: PythonContext) -> list[str]:
    """The timestamp fields the ``try`` body refreshes when that is all it does (else ``[]``):
    clock readings assigned to ``obj.<field>`` then ``obj.save(update_fields=[those])``, or
    one ``.update(<field>=now())``."""
    touched: list[str] = []
    saved = False
    for statement in attempt:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if not (
                isinstance(target, ast.Attribute)
                and _timestamp_field(target.attr)
                and _clock_reading(statement.value, ctx)
            ):
                return []
            touched.append(target.attr)
            continue
        call = statement.value if isinstance(statement, ast.Expr) else None
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
            return []
        if call.func.attr == "save" and not call.args and touched and not saved:
            fields = next((k.value for k in call.keywords if k.arg == "update_fields"), None)
            names = _string_list(fields)
            if names is None or len(call.keywords) != 1 or not set(names) <= set(touched):
                return []
            saved = True
            continue
        refreshes = all(
            k.arg is not None and _timestamp_field(k.arg) and _clock_reading(k.value, ctx)
            for k in call.keywords
        )
        if call.func.attr == "update" and not call.args and not touched and refreshes:
            return [k.arg for k in call.keywords if k.arg is not None]
        return []
    return touched if saved else []


def report_timestamp_touch(
    handler: ast.ExceptHandler, caught: str, fields: list[str], ctx: PythonContext
) -> None:
    ctx.report(
        handler,
        f"{caught} discards the error of a step that only refreshes {', '.join(fields)}: a "
        "failure leaves that timestamp stale, nothing else is lost -- prodready could not tell "
        "whether an outage there should still leave a trace; log it at debug level or catch "
        "only the expected errors.",
        severity=Severity.LOW,
        confidence=Confidence.LOW,
    )
