"""Data access: lost updates of rows -- a column read with SQL and written back from Python
(DAT009), a whole row saved back after a slow call (DAT010)."""

from __future__ import annotations

import ast
import re
from bisect import bisect_left
from dataclasses import dataclass

from prodready.plugin import (
    Category,
    Confidence,
    ModuleMemo,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    django_query,
    dotted,
    has_keyword,
    uses_django_orm,
    walk_body,
)
from prodready.rules.data_access._written_in_transaction import _locked_by_own_write

# -- DAT009 ---------------------------------------------------------------------------------------

_SELECT = re.compile(r"^\s*SELECT\s+(?P<columns>.+?)\s+FROM\s+(?P<table>[\w.\"]+)", re.I | re.S)
_UPDATE = re.compile(
    r"^\s*UPDATE\s+(?P<table>[\w.\"]+)\s+SET\s+(?P<sets>.+?)(?:\s+WHERE\s+(?P<where>.*))?$",
    re.I | re.S,
)
_LOCKING = re.compile(r"\bFOR\s+(?:NO\s+KEY\s+)?UPDATE\b|\bFOR\s+SHARE\b", re.I)
_PLACEHOLDER = re.compile(r"%\((?P<named>\w+)\)s|%s|\?|\$(?P<number>\d+)|(?<!:):(?P<colon>\w+)")
_ASSIGNMENT = re.compile(r"(?P<column>[\w\"]+)\s*=\s*(?P<value>[^,]+)")
# Calls that run a statement given as their first argument (drivers and project helpers).
_RUNNERS = frozenset(
    {"execute", "executemany", "fetch", "fetchrow", "fetchval", "fetchone", "fetchall"}
    | {"exec_driver_sql", "query", "run", "run_query", "fetch_one", "fetch_all", "fetch_val"}
)


def _may_read_and_update(ctx: PythonContext) -> bool:
    source = ctx.source
    return re.search("select", source, re.I) is not None and (
        re.search("update", source, re.I) is not None
    )


# The statements are literals of the module (or its constants): a module whose source names
# no SELECT and UPDATE has no function worth walking for them.
_MAY_READ_AND_UPDATE: ModuleMemo[bool] = ModuleMemo("DAT009:sql", _may_read_and_update)


@dataclass(frozen=True, slots=True)
class _Statement:
    call: ast.Call
    text: str


def _column(name: str) -> str:
    return name.strip().strip('"').rsplit(".", 1)[-1].lower()


def _statement(call: ast.Call, ctx: PythonContext) -> str | None:
    func = call.func
    last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if last not in _RUNNERS or not call.args:
        return None
    expr: ast.expr | None = call.args[0]
    if isinstance(expr, ast.Name):
        expr = ctx.value_of(expr.id)
    if isinstance(expr, ast.Call) and (dotted(expr.func) or "").endswith("text") and expr.args:
        expr = expr.args[0]  # sqlalchemy.text("...")
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    return None


def _parameters(call: ast.Call) -> tuple[list[ast.expr], dict[str, ast.expr]]:
    """The statement's parameters: DB-API's one sequence or mapping argument, asyncpg's
    positional arguments after the statement."""
    rest = call.args[1:]
    if len(rest) == 1 and isinstance(rest[0], ast.Tuple | ast.List):
        return list(rest[0].elts), {}
    if len(rest) == 1 and isinstance(rest[0], ast.Dict):
        named = {
            key.value: value
            for key, value in zip(rest[0].keys, rest[0].values, strict=True)
            if isinstance(key, ast.Constant) and isinstance(key.value, str)
        }
        return [], named
    return list(rest), {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg}


def _computed(expr: ast.expr | None, ctx: PythonContext, depth: int = 0) -> bool:
    """The value is arithmetic done in Python (``count + n``, ``balance - amount``)."""
    if expr is None or depth > 3:
        return False
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add | ast.Sub | ast.Mult):
        return True
    if isinstance(expr, ast.Name):
        return any(_computed(value, ctx, depth + 1) for value in _assigned(expr.id, ctx))
    return False


def _assigned(name: str, ctx: PythonContext) -> list[ast.expr]:
    """What the current function assigns to ``name`` (``x += n`` as ``x + n``)."""
    scope = ctx.function
    if scope is None:
        return []
    found: list[ast.expr] = []
    for node in ast.walk(scope.node):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            found.append(node.value)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign) and (
            isinstance(node.target, ast.Name) and node.target.id == name
        ):
            if isinstance(node, ast.AugAssign):
                found.append(ast.BinOp(node.target, node.op, node.value))
            elif node.value is not None:
                found.append(node.value)
    return found


def _written_back(
    update: _Statement, read_columns: set[str], ctx: PythonContext
) -> tuple[str, ast.expr] | None:
    """The column of ``read_columns`` the UPDATE sets to a placeholder fed a value computed
    in Python, unless its WHERE re-checks that column (an optimistic compare-and-set)."""
    found = _UPDATE.match(update.text)
    if found is None:
        return None
    where = (found.group("where") or "").lower()
    # A compare-and-set re-checks a value it read (``AND version = %s``): a lost race
    # updates no row. Keys select the row; they check nothing.
    checked = {c for c in read_columns if c != "id" and not c.endswith(("_id", "uuid", "pk"))}
    if any(re.search(rf"\b{re.escape(column)}\b", where) for column in checked):
        return None
    positional, named = _parameters(update.call)
    placeholders = list(_PLACEHOLDER.finditer(update.text))
    for assignment in _ASSIGNMENT.finditer(found.group("sets")):
        column = _column(assignment.group("column"))
        if "*" not in read_columns and column not in read_columns:
            continue
        value = assignment.group("value").strip()
        marker = _PLACEHOLDER.fullmatch(value)
        if marker is None:
            continue  # ``sold = sold + $1`` or a literal
        start = found.start("sets") + assignment.start("value")
        argument: ast.expr | None = None
        if marker.group("named") or marker.group("colon"):
            argument = named.get(marker.group("named") or marker.group("colon"))
        elif marker.group("number"):
            index = int(marker.group("number")) - 1
            argument = positional[index] if index < len(positional) else None
        else:
            index = sum(1 for p in placeholders if p.start() < start)
            argument = positional[index] if index < len(positional) else None
        if _computed(argument, ctx):
            assert argument is not None
            return column, argument
    return None


@python_rule(
    code="DAT009",
    name="sql-read-modify-write",
    category=Category.DATA_ACCESS,
    severity=Severity.HIGH,
    summary="Column read with SELECT and written back with UPDATE from a value computed in Python",
    nodes=(ast.FunctionDef, ast.AsyncFunctionDef),
    confidence=Confidence.HIGH,
    fix="Let the database do the arithmetic: UPDATE t SET n = n + %s WHERE id = %s (with "
    "RETURNING n when the new value is needed), or SELECT ... FOR UPDATE inside a transaction.",
)
def sql_read_modify_write(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a function that reads a column with raw SQL (`SELECT sold FROM events WHERE id =
    $1`) and later writes the same column of the same table with a value computed in Python
    from parameters (`UPDATE events SET sold = $1 ...` given `current + quantity`), when the
    SELECT takes no row lock (`FOR UPDATE`) and the UPDATE does not re-check the old value in
    its WHERE (`... WHERE id = $2 AND sold = $3`, a compare-and-set). Any driver or helper
    that runs a statement given as its first argument counts: DB-API cursors (psycopg2,
    psycopg, sqlite3, PyMySQL), asyncpg's `fetchval`/`fetchrow`/`execute`, SQLAlchemy
    `text()` with named parameters, a project `query(sql, params)` helper. The ORM form
    (`obj.stock -= n; obj.save()`) is CON002.

    ## Why it breaks production
    Two requests (or two consumers of one queue) run the SELECT at the same time, both read
    `sold = 10`, both write `sold = 11`: one sale disappears and the event oversells;
    balances, counters and stock drift with every collision. A transaction alone does not
    help -- under READ COMMITTED both still read the same value -- and it never shows in
    single-user tests.

    ## Example
    ```python
    async def bump_sold(conn, event_id, quantity):
        current = await conn.fetchval("SELECT sold FROM events WHERE id = $1", event_id)
        await conn.execute("UPDATE events SET sold = $1 WHERE id = $2",
                           current + quantity, event_id)
    ```

    ## Use instead
    ```python
    async def bump_sold(conn, event_id, quantity):
        return await conn.fetchval(
            "UPDATE events SET sold = sold + $1 WHERE id = $2 RETURNING sold", quantity, event_id
        )
    ```
    Or lock the row: `SELECT sold FROM events WHERE id = $1 FOR UPDATE` inside
    `async with conn.transaction():` (`with conn:` for DB-API drivers).
    """
    if ctx.facts.is_test or not ctx.memo(_MAY_READ_AND_UPDATE):
        return
    reads: dict[str, set[str]] = {}  # table -> columns read without a lock
    for call in _calls_in_order(node):
        text = _statement(call, ctx)
        if text is None:
            continue
        selected = _SELECT.match(text)
        if selected is not None:
            if _LOCKING.search(text):
                continue
            columns = {_column(part.split()[-1]) for part in selected.group("columns").split(",")}
            columns = {"*" if column.endswith("*") else column for column in columns}
            reads.setdefault(_column(selected.group("table")), set()).update(columns)
            continue
        updated = _UPDATE.match(text)
        if updated is None:
            continue
        read = reads.get(_column(updated.group("table")))
        if not read:
            continue
        found = _written_back(_Statement(call, text), read, ctx)
        if found is None:
            continue
        column, value = found
        table = _column(updated.group("table"))
        ctx.report(
            value,  # the arithmetic done in Python, where a statement spans lines
            f"{table}.{column} is read with SELECT and written back as {ctx.segment(value)} "
            "computed in Python: two concurrent runs read the same value and one update is "
            f"lost. Let the database do it (SET {column} = {column} + ..., RETURNING {column}) "
            "or lock the row (SELECT ... FOR UPDATE in a transaction)",
        )


def _calls_in_order(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.Call]:
    # The shared pre-order list of the function's own nodes (nested scopes not entered).
    found = [current for current in walk_body(node.body) if isinstance(current, ast.Call)]
    return sorted(found, key=lambda call: (call.lineno, call.col_offset))


# -- DAT010 ---------------------------------------------------------------------------------------

_SINGLE_ROW = frozenset({"get", "first", "last", "aget", "afirst", "alast"})
_OUTBOUND_ROOTS = frozenset(
    {"requests", "httpx", "aiohttp", "urllib", "urllib3", "stripe", "braintree", "boto3"}
    | {"botocore", "smtplib", "twilio", "sendgrid", "paypalrestsdk", "Adyen", "adyen"}
)
_OUTBOUND_WORDS = frozenset(
    {"charge", "capture", "refund", "payout", "send", "notify", "publish", "deliver", "sms"}
    | {"upload", "urlopen", "email", "webhook"}
)
_ENQUEUE = frozenset({"delay", "apply_async", "send_task", "enqueue", "send_with_options"})


def _slow_call(call: ast.Call, ctx: PythonContext) -> bool:
    """A call to another system that takes network time (an HTTP client, a payment or
    messaging SDK, a function named for sending or charging); enqueuing a task is not."""
    func = call.func
    last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if last in _ENQUEUE:
        return False
    name = ctx.qualname(func) or ""
    if name.split(".", 1)[0] in _OUTBOUND_ROOTS:
        return True
    return bool(set(last.lower().strip("_").split("_")) & _OUTBOUND_WORDS)


def _row_load(value: ast.expr, ctx: PythonContext) -> bool | None:
    """A Django single-row load: whether it locks the row (None: not a load)."""
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call):
        return None
    name = ctx.qualname(value.func) or ""
    if name.endswith("get_object_or_404") and value.args:
        return "select_for_update" in ctx.segment(value.args[0])
    chain = django_query(value)
    if chain is None or chain.terminal not in _SINGLE_ROW:
        return None
    return "select_for_update" in ctx.segment(value)


@python_rule(
    code="DAT010",
    name="full-row-save-after-slow-call",
    category=Category.DATA_ACCESS,
    severity=Severity.MEDIUM,
    summary="A Django row loaded, then saved whole after a call to another system",
    nodes=(ast.FunctionDef, ast.AsyncFunctionDef),
    confidence=Confidence.MEDIUM,
    fix="Save only what this code changed: obj.save(update_fields=[...]) or "
    "Model.objects.filter(pk=obj.pk).update(field=value); or reload the row after the call.",
)
def full_row_save_after_slow_call(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> None:
    """
    ## What it does
    Flags `obj.save()` without `update_fields` on a Django row loaded in the same function
    (`Model.objects.get(...)`, `.first()`, `get_object_or_404`) without `select_for_update()`,
    when a call to another system runs between the load and the save: an HTTP client
    (`requests`, `httpx`), a payment or messaging SDK (`stripe`, `twilio`, `smtplib`,
    `boto3`), or a function named for sending or charging (`send_sms`, `charge_card`).
    Enqueuing a task (`.delay()`) is not such a call. A row the enclosing
    `transaction.atomic()` block created or saved before loading it again is not flagged: that
    write holds the row's lock (a created row is invisible to others) until the commit.

    ## Why it breaks production
    `save()` writes every field of the row as it was loaded. The call to the SMS gateway or
    the payment provider takes hundreds of milliseconds, sometimes seconds; meanwhile another
    request changes the row -- the patient cancels, a webhook marks the order paid. The
    save then writes the stale copy back and the change is silently undone: the cancelled
    appointment is active again, the paid order pending.

    ## Example
    ```python
    appointment = Appointment.objects.get(id=appointment_id)
    send_sms(appointment.patient.phone, body)
    appointment.reminder_sent = True
    appointment.save()
    ```

    ## Use instead
    ```python
    appointment = Appointment.objects.get(id=appointment_id)
    send_sms(appointment.patient.phone, body)
    Appointment.objects.filter(pk=appointment.pk).update(reminder_sent=True)
    ```
    or `appointment.save(update_fields=["reminder_sent"])`.
    """
    if ctx.facts.is_test or not uses_django_orm(ctx) or not _may_save(node, ctx):
        return
    loads: dict[str, int] = {}  # unlocked rows -> line loaded
    slow: list[ast.Call] = []
    for call_or_assign in _events_in_order(node):
        if isinstance(call_or_assign, ast.Assign):
            target = call_or_assign.targets[0] if len(call_or_assign.targets) == 1 else None
            if isinstance(target, ast.Name):
                locked = _row_load(call_or_assign.value, ctx)
                if locked is False:
                    loads[target.id] = call_or_assign.lineno
                else:
                    loads.pop(target.id, None)
            continue
        call = call_or_assign
        func = call.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in {"save", "asave"}
            and isinstance(func.value, ast.Name)
            and func.value.id in loads
            and not call.args
            and not has_keyword(call, "update_fields")
        ):
            loaded = loads[func.value.id]
            if _locked_by_own_write(node, loaded, call, ctx):
                loads.pop(func.value.id)
                continue
            arms = _arms(node)
            between = [
                slow_call.lineno
                for slow_call in slow
                if loaded < slow_call.lineno < call.lineno
                and not _exclusive(arms.get(id(slow_call), ()), arms.get(id(call), ()))
            ]
            if between:
                ctx.report(
                    call,
                    f"{func.value.id}.{func.attr}() writes back every field of the row loaded "
                    f"on line {loaded}, after the call to another system on line {between[0]}: "
                    "changes other requests made to the row meanwhile (a cancellation, a "
                    "payment) are overwritten with the stale copy. Save only what changed "
                    "(update_fields=[...] or filter(pk=...).update(...))",
                )
                loads.pop(func.value.id)
            continue
        if _slow_call(call, ctx):
            slow.append(call)


def _save_lines(ctx: PythonContext) -> list[int]:
    # A line with other than ASCII may spell the name in letters Python normalizes to it.
    return [
        number for number, line in enumerate(ctx.lines, 1) if "save" in line or not line.isascii()
    ]


# The lines of the module that may hold a ``.save()``/``.asave()`` call, in order: a function
# without one among its lines saves no row, so its events need not be gathered.
_SAVE_LINES: ModuleMemo[list[int]] = ModuleMemo("DAT010:save", _save_lines)


def _may_save(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> bool:
    lines = ctx.memo(_SAVE_LINES)
    first = bisect_left(lines, function.lineno)
    return first < len(lines) and lines[first] <= (function.end_lineno or function.lineno)


_Arm = tuple[int, str]  # (id of an if/try/match, the field a node sits in: body, orelse...)


def _arms(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[int, tuple[_Arm, ...]]:
    """For every node of the function: the branch arms it sits in, outermost first."""
    found: dict[int, tuple[_Arm, ...]] = {}
    stack: list[tuple[ast.AST, tuple[_Arm, ...]]] = [(function, ())]
    while stack:
        current, arms = stack.pop()
        found[id(current)] = arms
        branching = isinstance(current, ast.If | ast.Try | ast.TryStar | ast.Match)
        for name, value in ast.iter_fields(current):
            children = value if isinstance(value, list) else [value]
            inner = (*arms, (id(current), name)) if branching else arms
            for index, child in enumerate(children):
                if isinstance(child, ast.AST):
                    arm = (*arms, (id(current), f"{name}{index}")) if name == "cases" else inner
                    stack.append((child, arm))
    return found


def _exclusive(first: tuple[_Arm, ...], second: tuple[_Arm, ...]) -> bool:
    """Two nodes in different arms of one if/try/match: one run does not reach both."""
    arms = dict(first)
    for owner, field in second:
        other = arms.get(owner)
        if other is None or other == field:
            continue
        if {other, field} <= _ARM_FIELDS:
            return True
        if other.startswith("cases") and field.startswith("cases"):
            return True
    return False


_ARM_FIELDS = frozenset({"body", "orelse", "handlers"})


def _events_in_order(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.Assign | ast.Call]:
    found: list[ast.Assign | ast.Call] = []
    stack: list[ast.AST] = list(reversed(node.body))
    while stack:
        current = stack.pop()
        if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(current, ast.Assign | ast.Call):
            found.append(current)
        stack.extend(reversed(list(ast.iter_child_nodes(current))))
    return sorted(found, key=lambda item: (item.lineno, item.col_offset))
