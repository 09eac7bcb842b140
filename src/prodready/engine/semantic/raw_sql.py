"""Writes that commit on their own outside the ORMs, and calls that leave the process.

Raw SQL drivers: asyncpg runs every statement outside ``async with conn.transaction()`` in its
own implicit transaction (its documented autocommit behaviour), and a DB-API connection set to
autocommit (``conn.autocommit = True``, psycopg 3's ``connect(autocommit=True)``, sqlite3's
``isolation_level=None``) commits each ``execute``. In such a module an ``INSERT``/``UPDATE``/
``DELETE`` statement is a committed write by itself, as a ``conn.commit()`` is elsewhere.

Outbound calls (an HTTP client, a payment or messaging SDK, a project function named for
charging or sending) are recorded by line so that a split around one -- a pending row
committed, the provider called, the result committed -- reads as deliberate (DAT003).
"""

from __future__ import annotations

import ast
import re

from prodready.engine.python.memo import ModuleMemo
from prodready.engine.python.module_context import PythonContext
from prodready.engine.python.scopes import FunctionNode
from prodready.engine.semantic.dependency import dependent_pair
from prodready.engine.semantic.summary import AROUND_CALL, OUTBOUND

# Methods that run a SQL statement given as their first argument.
STATEMENT_METHODS = frozenset({"execute", "executemany", "fetchrow", "fetchval", "fetch"})
_WRITE_STATEMENT = re.compile(
    r"^\s*(?:--[^\n]*\n\s*)*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+([\w.\"]+)", re.IGNORECASE
)
_AUTOCOMMIT_TEXT = re.compile(
    r"\bautocommit\s*=\s*True\b|\bisolation_level\s*=\s*None\b|\bset_session\(\s*autocommit"
)
# Libraries whose calls leave the process (by the root of the qualified name).
_OUTBOUND_ROOTS = frozenset(
    {"requests", "httpx", "aiohttp", "urllib", "urllib3", "stripe", "braintree", "boto3"}
    | {"botocore", "smtplib", "twilio", "sendgrid", "paypalrestsdk", "Adyen", "adyen"}
    | {"slack_sdk", "slack", "googleapiclient"}  # a Slack WebClient's, a Google API's calls
)
# Words of a called name (snake_case parts) that say it reaches another system.
_OUTBOUND_WORDS = frozenset(
    {"charge", "capture", "refund", "payout", "pay", "send", "notify", "publish", "deliver"}
    | {"upload", "post", "request", "urlopen", "transfer", "sms", "email", "webhook"}
)


def _autocommits(ctx: PythonContext) -> bool:
    tree = ctx.tree
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "asyncpg" for name in names):
                return True
    return bool(_AUTOCOMMIT_TEXT.search(ctx.source))


_AUTOCOMMIT: ModuleMemo[bool] = ModuleMemo("semantic:autocommit", _autocommits)


def autocommit_write(node: ast.Call, ctx: PythonContext) -> str | None:
    """``conn.execute("UPDATE events SET ...")`` (or a project helper given the statement,
    ``query("INSERT INTO ...", ...)``) in a module whose statements commit on their own: how
    the write reads in a message (``conn.execute(UPDATE events)``)."""
    func = node.func
    if isinstance(func, ast.Attribute):
        callee = f"{ast.unparse(func.value)}.{func.attr}"
    elif isinstance(func, ast.Name):
        callee = func.id
    else:
        return None
    statement = _statement_text(node.args[0] if node.args else None, ctx)
    if statement is None:
        return None
    found = _WRITE_STATEMENT.match(statement)
    if found is None or not ctx.memo(_AUTOCOMMIT):
        return None
    verb = found.group(1).split()[0].upper()
    return f"{callee}({verb} {found.group(2).strip(chr(34))})"


def _statement_text(expr: ast.expr | None, ctx: PythonContext) -> str | None:
    if isinstance(expr, ast.Name):
        expr = ctx.value_of(expr.id)
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, ast.JoinedStr):
        return "".join(
            part.value
            for part in expr.values
            if isinstance(part, ast.Constant) and isinstance(part.value, str)
        )
    return None


def outbound(node: ast.Call, name: str | None) -> bool:
    """A call that reaches another system: a client library's, or one whose name says it
    charges, sends or publishes (``payments.charge``, ``charge_invoice``, ``_send_sms``)."""
    func = node.func
    if name is not None and name.split(".", 1)[0] in _OUTBOUND_ROOTS:
        return True
    last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if last in {"delay", "apply_async", "send"} and isinstance(func, ast.Attribute):
        inner = func.value
        last = inner.attr if isinstance(inner, ast.Attribute) else getattr(inner, "id", last)
    return bool(set(last.lower().strip("_").split("_")) & _OUTBOUND_WORDS)


def outbound_lines(flags: set[str] | tuple[str, ...]) -> list[int]:
    """The lines of the outbound calls a function's flags record."""
    return sorted(int(flag[len(OUTBOUND) :]) for flag in flags if flag.startswith(OUTBOUND))


def straddles_call(
    flags: set[str], writes: list[tuple[ast.Call, str]], pair: tuple[int, ...]
) -> bool:
    """An outbound call lies between the two writes of ``pair``."""
    first, second = writes[pair[0]][0].lineno, writes[pair[1]][0].lineno
    return any(first < line < second for line in outbound_lines(flags))


def pair_between_calls(
    function: FunctionNode,
    flags: set[str],
    writes: list[tuple[ast.Call, str]],
    *,
    drf_view: bool,
) -> tuple[tuple[int, int], bool] | None:
    """The first two writes that can both run with no outbound call between them (and
    whether they depend on each other); None, with :data:`AROUND_CALL` added to ``flags``,
    when every such pair is split by one -- a pending state committed before the call, its
    result after: a split made on purpose."""
    outs = outbound_lines(flags)
    segments: dict[int, list[int]] = {}
    for index, (call, _) in enumerate(writes):
        segments.setdefault(sum(line < call.lineno for line in outs), []).append(index)
    for indexes in segments.values():
        if len(indexes) < 2:
            continue
        found, dependent = dependent_pair(
            function, [writes[i][0] for i in indexes], drf_view=drf_view
        )
        if found is not None:
            return (indexes[found[0]], indexes[found[1]]), dependent
    flags.add(AROUND_CALL)
    return None
