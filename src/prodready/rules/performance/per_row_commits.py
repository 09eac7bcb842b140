"""Performance: one database transaction committed per item of a loop (PRF011)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    Evidence,
    FunctionEnd,
    Mark,
    ModuleEnd,
    ModuleMemo,
    ProjectContext,
    ProjectFacts,
    PythonContext,
    Severity,
    project_rule,
)
from prodready.plugin.analysis import (
    is_db_session,
    message_loop,
    same_dotted_name,
    semantic_model,
    walk_body,
)
from prodready.rules.api_contract._shared import _admin_only_route
from prodready.rules.performance.queue_and_cache_calls import _may_loop
from prodready.rules.performance.unbounded_queries import _requester

# Statements that store rows.
_WRITE_WORDS = ("insert", "update", "delete", "upsert", "replace", "merge")
# Session methods that store rows (SQLAlchemy, SQLModel, Flask-SQLAlchemy).
_SESSION_WRITES = frozenset({"add", "merge", "delete"})
# Receivers whose ``commit()`` ends a database transaction (a DB-API connection, a session).
_CONNECTION_WORDS = frozenset({"conn", "connection", "cnx", "con", "db", "dbconn", "database"})
# Libraries that talk to another system: a loop that calls one per item makes one side effect
# per item, and committing each one as it happens is what keeps the record of it.
_OUTBOUND_ROOTS = frozenset(
    {"requests", "httpx", "aiohttp", "urllib", "urllib3", "boto3", "stripe", "smtplib"}
    | {"twilio", "sendgrid", "kafka", "confluent_kafka", "pika", "aio_pika", "celery", "redis"}
)
_OUTBOUND_METHODS = frozenset({"delay", "apply_async", "send_task", "enqueue", "publish"})


def _sql_head(expr: ast.AST, function: list[ast.stmt], ctx: PythonContext) -> str:
    """The first words of a statement given as a string, an f-string, ``text("...")`` or a
    name assigned one in the function or the module."""
    if isinstance(expr, ast.Name):
        value = _assigned(expr.id, function, ctx)
        if value is None:
            return ""
        expr = value
    if isinstance(expr, ast.Call) and expr.args:
        expr = expr.args[0]  # text("INSERT ...")
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value.lstrip().lower()
    if isinstance(expr, ast.JoinedStr) and expr.values:
        first = expr.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value.lstrip().lower()
    if isinstance(expr, ast.BinOp):
        return _sql_head(expr.left, function, ctx)
    return ""


def _assigned(name: str, function: list[ast.stmt], ctx: PythonContext) -> ast.expr | None:
    """The value of the one plain assignment of ``name`` in the function (or the module, for a
    statement kept in a constant)."""
    for scope in (function, ctx.tree.body):
        values = [
            node.value
            for node in walk_body(scope)
            if isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == name
        ]
        if values:
            return values[0] if len(values) == 1 else None
    return None


def _writes_row(call: ast.Call, function: list[ast.stmt], ctx: PythonContext) -> bool:
    """``cur.execute("INSERT ...")``, ``session.execute(insert(T)...)``, ``session.add(x)``."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr in _SESSION_WRITES:
        return is_db_session(func.value, ctx)
    if func.attr != "execute" or not call.args:
        return False
    statement = call.args[0]
    if _sql_head(statement, function, ctx).startswith(_WRITE_WORDS):
        return True
    # SQLAlchemy's insert(T).values(...) / update(T)...
    while isinstance(statement, ast.Call) and isinstance(statement.func, ast.Attribute):
        statement = statement.func.value
    if isinstance(statement, ast.Call):
        called = ctx.qualname(statement.func) or ""
        return called.startswith("sqlalchemy.") and called.rsplit(".", 1)[-1] in _WRITE_WORDS
    return False


def _commits(call: ast.Call, ctx: PythonContext) -> bool:
    """``conn.commit()``, ``session.commit()``, ``await db.commit()``: a database transaction
    ended -- not a Kafka consumer's offsets or a version-control commit."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr != "commit" or call.args:
        return False
    receiver = func.value
    if "begin_nested" in (ctx.qualname(receiver) or ""):
        return False  # a SAVEPOINT released inside the caller's transaction
    if is_db_session(receiver, ctx):
        return True
    if isinstance(receiver, ast.Attribute):
        last = receiver.attr
    elif isinstance(receiver, ast.Name):
        last = receiver.id
        value = ctx.value_of(last)
        if isinstance(value, ast.Call):
            made = ctx.qualname(value.func) or ""
            if made.endswith(".connect"):
                return not made.startswith(tuple(_OUTBOUND_ROOTS))
    else:
        return False
    words = set(last.lower().strip("_").split("_"))
    return bool(words & _CONNECTION_WORDS)


def _outbound(call: ast.Call, ctx: PythonContext) -> bool:
    name = ctx.qualname(call.func) or ""
    if name.split(".", 1)[0] in _OUTBOUND_ROOTS:
        return True
    return isinstance(call.func, ast.Attribute) and call.func.attr in _OUTBOUND_METHODS


def _per_item(loop: ast.For | ast.AsyncFor, ctx: PythonContext) -> bool:
    """A loop over a collection: not a retry loop (``range(n)``), not a literal list of a few
    values, not a message consumer's loop (one message -- one unit of work -- per turn)."""
    source = loop.iter
    if isinstance(source, ast.Call) and (ctx.qualname(source.func) or "") in {
        "builtins.range",
        "builtins.enumerate",
    }:
        inner = source.args[0] if source.args else None
        if (ctx.qualname(source.func) or "") == "builtins.range" or not isinstance(
            inner, ast.Name | ast.Attribute | ast.Subscript | ast.Call
        ):
            return False
    if isinstance(source, ast.List | ast.Tuple | ast.Set | ast.Constant):
        return False
    return message_loop(loop, ctx) is None


def _one_parent(loop: ast.For | ast.AsyncFor, ctx: PythonContext) -> str:
    """The foreign-key filter of the query the loop iterates when it selects the rows of one
    parent (``filter_by(ticket_id=ticket.id)``, ``filter(Draft.ticket_id == ticket.id)``),
    else "". Not the requesting account's rows (``current_user.id``): those accumulate."""
    source: ast.AST | None = loop.iter
    if isinstance(source, ast.Name):
        source = ctx.value_of(source.id)
    for call in ast.walk(source) if source is not None else ():
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
            continue
        pairs: list[tuple[str, ast.expr]] = []
        if call.func.attr in {"filter_by", "filter"}:
            pairs += [(k.arg, k.value) for k in call.keywords if k.arg is not None]
        if call.func.attr in {"filter", "where"}:
            pairs += [
                (test.left.attr, test.comparators[0])
                for test in call.args
                if isinstance(test, ast.Compare)
                and isinstance(test.ops[0], ast.Eq)
                and isinstance(test.left, ast.Attribute)
            ]
        for column, value in pairs:
            if (
                column.endswith("_id")
                and isinstance(value, ast.Name | ast.Attribute)
                and not _requester(value)
            ):
                return f"{column}={ctx.segment(value)}"
    return ""


def _project_call(call: ast.Call, ctx: PythonContext) -> str | None:
    """The qualified name of a call that may run a project function (``insert_reading(...)``,
    ``db.insert_reading(...)``, ``self.store(...)``)."""
    name = ctx.qualname(call.func)
    if name is None or name.startswith("builtins."):
        return None
    module = ctx.facts.module
    return f"{module}.{name}" if module and "." not in name else name


# A module whose statements commit on their own: asyncpg (no implicit transaction), a psycopg
# or sqlite3 connection opened in autocommit mode.
_AUTOCOMMIT_TEXT = re.compile(
    r"\bautocommit\s*=\s*True\b|\bisolation_level\s*=\s*None\b|\bimport asyncpg\b"
    r"|\bfrom asyncpg\b|set_session\(\s*autocommit"
)
# Every match of _AUTOCOMMIT_TEXT contains one of these words: the regex, which has no literal
# prefix to skip ahead by, is run only on a module that has one (a full search costs more than
# the rest of the rule).
_AUTOCOMMIT_WORDS = ("autocommit", "isolation_level", "asyncpg")
_AUTOCOMMITS: ModuleMemo[bool] = ModuleMemo(
    "PRF011:autocommit",
    lambda ctx: (
        any(word in ctx.source for word in _AUTOCOMMIT_WORDS)
        and _AUTOCOMMIT_TEXT.search(ctx.source) is not None
    ),
)
# Statements grouped in an explicit transaction do not commit one by one.
_TRANSACTION_WORDS = (".transaction(", ".begin(", "atomic(")


def _commits_itself(call: ast.Call, function: list[ast.stmt], ctx: PythonContext) -> bool:
    """``cur.execute("UPDATE ...")`` on an autocommit connection: stored and committed."""
    return ctx.memo(_AUTOCOMMITS) and _writes_row(call, function, ctx)


# Whether the module's text names a commit at all (a cheap test before walking functions).
_MENTIONS_COMMIT: ModuleMemo[bool] = ModuleMemo(
    "PRF011:commit", lambda ctx: "commit" in ctx.source or not ctx.source.isascii()
)


def _collect(node: ast.AST, ctx: PythonContext) -> list[Mark] | None:
    """Evidence per function: it stores a row and commits it ("commits"), unless it also loops
    or calls another system; its project calls made once per item of a loop ("inloop"); a loop
    of its own that stores and commits per item ("direct")."""
    if ctx.facts.is_test or not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    text = ctx.segment(node)
    autocommit = (
        ctx.memo(_AUTOCOMMITS)
        and "execute" in text
        and not any(word in text for word in _TRANSACTION_WORDS)
    )
    commits = (ctx.memo(_MENTIONS_COMMIT) and "commit" in text) or autocommit
    if not commits and not _may_loop(node, ctx):
        return None
    nodes = list(walk_body(node.body))
    calls = [inner for inner in nodes if isinstance(inner, ast.Call)]
    loops = [inner for inner in nodes if isinstance(inner, ast.For | ast.AsyncFor)]
    if not commits and not loops:
        return None
    found: list[Mark] = []
    # A route only administrators reach: its loops are the operator's rare actions.
    admin = _admin_only_route(ctx) or ""
    if (
        not loops
        and (
            (
                any(_writes_row(call, node.body, ctx) for call in calls)
                and any(_commits(call, ctx) for call in calls)
            )
            or (autocommit and any(_commits_itself(call, node.body, ctx) for call in calls))
        )
        and not any(_outbound(call, ctx) for call in calls)
    ):
        found.append(Mark.of("commits", node.lineno))
    reported: set[int] = set()
    for loop in loops:
        if not _per_item(loop, ctx):
            continue
        body = [inner for inner in walk_body(loop.body) if isinstance(inner, ast.Call)]
        if any(_outbound(call, ctx) for call in body):
            continue
        parent = _one_parent(loop, ctx)
        if any(_writes_row(call, node.body, ctx) for call in body) and any(
            _commits(call, ctx) for call in body
        ):
            if loop.lineno not in reported:
                reported.add(loop.lineno)
                commit = next(call for call in body if _commits(call, ctx))
                found.append(
                    Mark.of(
                        "direct",
                        commit.lineno,
                        name=ctx.segment(commit.func),
                        admin=admin,
                        parent=parent,
                    )
                )
            continue
        stored = (
            next((call for call in body if _commits_itself(call, node.body, ctx)), None)
            if autocommit
            else None
        )
        if stored is not None:
            if loop.lineno not in reported:
                reported.add(loop.lineno)
                found.append(
                    Mark.of("direct", stored.lineno, name=ctx.segment(stored.func), autocommit=True)
                )
            continue
        for call in body:
            called = _project_call(call, ctx)
            if called is not None:
                found.append(
                    Mark.of(
                        "inloop",
                        call.lineno,
                        name=called,
                        loop=str(loop.lineno),
                        admin=admin,
                        parent=parent,
                    )
                )
    return found or None


@project_rule(
    code="PRF011",
    name="commit-per-row-in-loop",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="A loop stores and commits one row per item: one transaction (and fsync) per row",
    nodes=(FunctionEnd, ModuleEnd),
    collect=_collect,
    fix="Store the items in one statement (executemany/execute_values, session.add_all, "
    "insert().values([...])) and commit once after the loop.",
)
def commit_per_row_in_loop(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a loop over a collection that stores a row and commits the transaction on every
    item -- `cursor.execute("INSERT ...")` followed by `conn.commit()` (psycopg2, sqlite3,
    pymysql), `session.add(row)` then `session.commit()` (SQLAlchemy sync or async,
    Flask-SQLAlchemy, SQLModel) -- written in the loop itself or in a project helper the loop
    calls once per item (`for m in metrics: insert_reading(m)` where `insert_reading` executes
    and commits). Retry loops (`range(n)`), loops over a literal list, message-consumer loops
    (one message per turn) and loops that call another system per item (a payment, an HTTP
    call, a published message: committing each side effect as it happens keeps its record) are
    not flagged.

    Evidence tier: a loop in a route only administrators reach (a guard named for them:
    `@admins_only`, `@staff_member_required`, DRF `IsAdminUser`) is reported at low with
    confidence low: an operator's rare action (a settings form, a reset), whose items may
    never be many enough for the commits to matter -- the code does not show it. So is a loop
    over the rows of one parent (a query filtered by a foreign key to one object,
    `filter_by(ticket_id=ticket.id)`): one parent's children are often few by design.

    ## Why it breaks production
    Every commit is a round trip and a flush of the database's write-ahead log to disk. A batch
    of 500 readings stored with 500 commits takes 500 fsyncs where one would do: throughput
    drops by one or two orders of magnitude, the ingestion falls behind its producers, and the
    database spends its I/O on log flushes. A failure half-way also leaves half the batch
    stored, with no way to tell which half.

    ## Example
    ```python
    def store_reading(sensor_id, value):
        cur = conn.cursor()
        cur.execute("INSERT INTO readings (sensor_id, value) VALUES (%s, %s)", (sensor_id, value))
        conn.commit()

    def ingest(batch):
        for sensor_id, value in batch:
            store_reading(sensor_id, value)
    ```

    ## Use instead
    ```python
    def ingest(batch):
        with conn, conn.cursor() as cur:  # one transaction
            cur.executemany(
                "INSERT INTO readings (sensor_id, value) VALUES (%s, %s)", list(batch)
            )
    ```
    With SQLAlchemy: `session.add_all(rows)` (or `session.execute(insert(Reading), rows)`) and
    one `session.commit()` after the loop.
    """
    model = semantic_model(project)
    at = {(f.path, f.summary.line): f.qualname for f in model.functions.values()}
    committing: dict[str, str] = {}
    inloop: list[Evidence] = []
    for evidence in project.evidence("PRF011"):
        if evidence.kind == "commits":
            qualname = at.get((evidence.path, evidence.line))
            if qualname is not None:
                committing[qualname] = evidence.path
        elif evidence.kind == "direct":
            _report(
                ctx,
                evidence,
                f"{evidence.name}() "
                + ("runs on an autocommit connection: it " if evidence.flag("autocommit") else "")
                + "commits once per item of the loop: every row is its own "
                "transaction (a round trip and a log flush each)",
                "store the rows in one statement (executemany, add_all) and commit once after "
                "the loop",
            )
        else:
            inloop.append(evidence)
    if not committing:
        return
    done: set[tuple[str, str]] = set()
    for evidence in inloop:
        loop = evidence.text("loop")
        if (evidence.path, loop) in done:
            continue
        module = project.module_name(evidence.path)
        resolved = [
            *model.call_targets(evidence.name),
            *model.call_targets(f"{module}.{evidence.name.rpartition('.')[2]}"),
            # ``from db import insert_reading`` scanned from a directory above: ``svc.db``
            *(name for name in committing if same_dotted_name(evidence.name, name)),
        ]
        for qualname in resolved:
            if qualname in committing:
                target = model.functions[qualname]
                done.add((evidence.path, loop))
                _report(
                    ctx,
                    evidence,
                    f"{target.summary.short_name}() stores a row and commits it "
                    f"({target.path}:{target.summary.line}), and this loop calls it once per "
                    "item: every row is its own transaction (a round trip and a log flush "
                    "each)",
                    "store the items in one statement (executemany, add_all) and commit once "
                    "after the loop",
                )
                break


def _report(ctx: ProjectContext, evidence: Evidence, what: str, fix: str) -> None:
    """At the rule's severity; at low when the loop is in a route only administrators reach
    (evidence ``admin``): an operator's rare action, whose items may never be many enough
    for the commits to matter -- a fact the code does not show."""
    guard = evidence.text("admin")
    parent = evidence.text("parent")
    if parent and not guard:
        ctx.report(
            evidence.path,
            evidence.line,
            f"{what}, over the rows of one parent ({parent}); could not tell whether one "
            f"parent's rows are ever many enough for the commits to matter: if they are, {fix}",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    if not guard:
        ctx.report(evidence.path, evidence.line, f"{what}. {fix[0].upper()}{fix[1:]}")
        return
    ctx.report(
        evidence.path,
        evidence.line,
        f"{what}, in a route only administrators reach ({guard}); could not tell whether its "
        f"items are ever many enough for the commits to matter: if they are, {fix}",
        severity=Severity.LOW,
        confidence=Confidence.LOW,
    )
