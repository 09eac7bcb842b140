"""Data access: connections opened and never closed, here or by a helper (DAT004, DAT007)."""

from __future__ import annotations

import ast
from collections.abc import Callable

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    Mark,
    ModuleEnd,
    ProjectContext,
    ProjectFacts,
    PythonContext,
    Severity,
    project_rule,
    python_rule,
)
from prodready.plugin.analysis import (
    factory_calls,
    is_local_name,
    module_function,
    module_functions,
    same_dotted_name,
    walk_body,
)
from prodready.rules.data_access._shared import _DBAPI_MODULES

# -- DAT004 ---------------------------------------------------------------------------------------

_CONNECT_CALLS = frozenset(
    {"psycopg2.connect", "psycopg.connect", "sqlite3.connect", "pymysql.connect"}
    | {"mysql.connector.connect", "MySQLdb.connect"}
)
# Drivers of databases that run inside the process: no server connection to exhaust.
_IN_PROCESS_CONNECTS = frozenset({"sqlite3.connect"})
# Methods of a DB-API connection: a helper's result used this way is a connection.
_CONNECTION_METHODS = frozenset({"cursor", "execute", "executemany", "commit", "rollback"})


def _unclosed_openers(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    opens: Callable[[ast.Call], bool],
    ctx: PythonContext,
) -> list[ast.Call]:
    """The calls of ``function`` for which ``opens`` holds whose result is never released:
    not a ``with`` context manager, not closed (``conn.close()``, ``contextlib.closing``), not
    returned and not stored on an object or in a container (where a teardown hook closes it)."""
    opened: list[ast.Call] = []
    bound: dict[int, str] = {}
    released: set[str] = set()
    released_calls: set[int] = set()
    for node in walk_body(function.body):
        if isinstance(node, ast.With | ast.AsyncWith):
            released_calls.update(id(item.context_expr) for item in node.items)
        elif isinstance(node, ast.Call):
            func = node.func
            if ctx.qualname(func) == "contextlib.closing" or (
                isinstance(func, ast.Name) and func.id == "closing"
            ):
                for argument in node.args:
                    if isinstance(argument, ast.Name):
                        released.add(argument.id)
                    else:
                        released_calls.add(id(argument))
            elif isinstance(func, ast.Attribute) and func.attr == "close":
                if isinstance(func.value, ast.Name):
                    released.add(func.value.id)
            elif opens(node):
                opened.append(node)
        elif isinstance(node, ast.Assign):
            value = node.value.value if isinstance(node.value, ast.Await) else node.value
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(value, ast.Call):
                    bound[id(value)] = target.id
                elif isinstance(target, ast.Attribute | ast.Subscript):
                    # g.db = conn / self.conn = connect(...): a teardown hook owns it now.
                    if isinstance(value, ast.Name):
                        released.add(value.id)
                    elif isinstance(value, ast.Call):
                        released_calls.add(id(value))
        elif isinstance(node, ast.Return):
            returned = node.value.value if isinstance(node.value, ast.Await) else node.value
            if isinstance(returned, ast.Name):
                released.add(returned.id)
            elif isinstance(returned, ast.Call):
                released_calls.add(id(returned))
    return [
        call
        for call in opened
        if id(call) not in released_calls and bound.get(id(call), "") not in released
    ]


def _connection_helper(call: ast.Call, ctx: PythonContext) -> str | None:
    """The DB-API connect() a helper of this module returns new to its caller, if any."""
    helper = module_function(call, ctx)
    if helper is None:
        return None
    found = sorted(factory_calls(helper, ctx) & _CONNECT_CALLS)
    return found[0] if found else None


@python_rule(
    code="DAT004",
    name="connection-not-closed",
    category=Category.DATA_ACCESS,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Database connection opened in a request handler and never closed",
    nodes=(FunctionEnd,),
    fix="Use a connection pool (or at least `with closing(connect(...)) as conn:` / "
    "try/finally conn.close()).",
)
def connection_not_closed(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `psycopg2.connect`, `psycopg.connect`, `sqlite3.connect`, `pymysql.connect`,
    `mysql.connector.connect` and `MySQLdb.connect` calls inside an HTTP handler -- directly,
    or through a helper function of the same module that returns a new connection
    (`def get_connection(): return psycopg2.connect(...)`) -- whose connection is neither used
    as a context manager, nor closed (`conn.close()`, `contextlib.closing`), nor returned or
    stored for a teardown hook to close. (Helpers in another module: DAT007.)
    Evidence tier: an unclosed `sqlite3` connection is reported at low severity with low
    confidence -- SQLite runs in the process, so there is no server connection to exhaust,
    only a file handle (and an unfinished write's lock) held until the connection is
    collected.

    ## Why it breaks production
    Every request opens a new server connection (a TCP and TLS handshake plus a backend process
    on PostgreSQL) and leaves it to the garbage collector. When a request fails, the traceback
    keeps the frame -- and the connection -- alive; error trackers and retries hold on to
    them longer. Under load the database hits `max_connections` and refuses everyone, including
    the healthy services that share it.

    ## Example
    ```python
    @app.get("/reports/<int:report_id>")
    def report(report_id):
        conn = psycopg2.connect(DATABASE_URL)
        cur = conn.cursor()
        cur.execute("SELECT * FROM reports WHERE id = %s", (report_id,))
        return jsonify(cur.fetchone())
    ```

    ## Use instead
    ```python
    pool = psycopg2.pool.ThreadedConnectionPool(1, 10, DATABASE_URL)

    @app.get("/reports/<int:report_id>")
    def report(report_id):
        conn = pool.getconn()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT * FROM reports WHERE id = %s", (report_id,))
                return jsonify(cur.fetchone())
        finally:
            pool.putconn(conn)
    ```
    """
    if ctx.route is None or ctx.function is None or ctx.facts.is_test:
        return
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    through: dict[int, str] = {}

    def opens(call: ast.Call) -> bool:
        if ctx.qualname(call.func) in _CONNECT_CALLS:
            return True
        connect = _connection_helper(call, ctx)
        if connect is not None:
            through[id(call)] = connect
        return connect is not None

    for call in _unclosed_openers(node, opens, ctx):
        callee = ctx.qualname(call.func) or "connect"
        opened = (
            f"{callee}() opens a new database connection ({through[id(call)]}() in the helper)"
            if id(call) in through
            else f"{callee}() opens a new database connection"
        )
        if through.get(id(call), callee) in _IN_PROCESS_CONNECTS:
            ctx.report(
                call,
                f"{opened} per request and this handler never closes it. SQLite runs in the "
                "process, so no server connection is held; the file handle (and the lock of "
                "an unfinished write) lasts until the connection is collected -- at return in "
                "CPython, later if a traceback keeps the frame alive. prodready could not tell "
                "whether that happens here: close it with contextlib.closing()",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )
            continue
        ctx.report(
            call,
            f"{opened} per request and this handler never closes it: use a connection pool, "
            "or close it in finally / with contextlib.closing()",
        )


# -- DAT007 ---------------------------------------------------------------------------------------


def _imported_call(call: ast.Call, ctx: PythonContext) -> str | None:
    """``get_db()`` imported with ``from app.db import get_db`` / ``db.get_db()`` on an
    imported module: the callee's qualified name, else None (builtins, locals, methods of
    objects)."""
    func = call.func
    root = func.value if isinstance(func, ast.Attribute) else func
    if not isinstance(root, ast.Name) or is_local_name(root.id, ctx):
        return None
    imported = ctx.facts.bindings.get(root.id)
    if not imported or imported.startswith(_DBAPI_MODULES):
        return None  # not imported, or a driver's own function (DAT004's concern)
    name = ctx.qualname(func)
    return name if name is not None and "." in name else None


def _used_as_connection(call: ast.Call, function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """The result is used like a DB-API connection: ``conn = get_db(); conn.cursor()`` or
    ``get_db().execute(...)``."""
    names: set[str] = set()
    for node in walk_body(function.body):
        if isinstance(node, ast.Assign) and node.value is call:
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    for node in walk_body(function.body):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _CONNECTION_METHODS
        ):
            receiver = node.func.value
            if receiver is call or (isinstance(receiver, ast.Name) and receiver.id in names):
                return True
    return False


def _collect_dat007(node: ast.AST, ctx: PythonContext) -> list[Mark] | None:
    """Evidence: module functions that return a new DB-API connection, and handler calls of
    imported functions whose result is used as a connection and never released."""
    if ctx.facts.is_test:
        return None
    if isinstance(node, ast.Module):  # ModuleEnd
        if not any(module.startswith(_DBAPI_MODULES) for module, _ in ctx.facts.imports):
            return None
        found: list[Mark] = []
        for name, function in module_functions(ctx).items():
            connects = sorted(factory_calls(function, ctx) & _CONNECT_CALLS)
            if connects:
                found.append(
                    Mark.of("returns-connection", function.lineno, name=name, connect=connects[0])
                )
        return found
    if ctx.route is None or not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    candidates: dict[int, str] = {}

    def opens(call: ast.Call) -> bool:
        callee = _imported_call(call, ctx)
        if callee is not None:
            candidates[id(call)] = callee
        return callee is not None

    return [
        Mark.of("unclosed", call.lineno, name=candidates[id(call)])
        for call in _unclosed_openers(node, opens, ctx)
        if _used_as_connection(call, node)
    ]


@project_rule(
    code="DAT007",
    name="connection-from-helper-not-closed",
    category=Category.DATA_ACCESS,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Handler gets a new DB connection from another module's helper and never closes it",
    nodes=(FunctionEnd, ModuleEnd),
    collect=_collect_dat007,
    fix="Use a connection pool, a request-scoped connection closed by a teardown hook, or "
    "`with closing(get_connection()) as conn:`.",
)
def connection_from_helper_not_closed(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags HTTP handlers that call a function imported from another module of the project --
    `conn = get_connection()` with `from app.db import get_connection` -- that returns a new
    DB-API connection (`psycopg2.connect`, `sqlite3.connect`, `pymysql.connect`...), use the
    result as a connection (`.cursor()`, `.execute()`, `.commit()`), and neither close it
    (`conn.close()`, `with closing(...)`, a `with` block) nor return or store it for a teardown
    hook. A helper that caches the connection on the request (`g.db = connect()`) or elsewhere
    is not flagged. Needs the whole project, so it does not run on `--diff` scans; DAT004
    covers connections opened in the handler's own module.

    ## Why it breaks production
    The helper hides the `connect()` call, so every request silently opens a new server
    connection (TCP and TLS handshakes plus a backend process on PostgreSQL) and leaves it to
    the garbage collector. Tracebacks, error trackers and retries keep failed requests' frames
    -- and their connections -- alive. Under load the database reaches `max_connections` and
    refuses every client, including the other services that share it.

    ## Example
    ```python
    # app/db.py
    def get_connection():
        return psycopg2.connect(DATABASE_URL)

    # app/main.py
    @app.get("/payments/{payment_id}")
    def get_payment(payment_id: str):
        conn = get_connection()
        cur = conn.cursor()
        cur.execute("SELECT * FROM payments WHERE id = %s", (payment_id,))
        return cur.fetchone()
    ```

    ## Use instead
    ```python
    # app/db.py
    pool = psycopg2.pool.ThreadedConnectionPool(1, 10, DATABASE_URL)

    @contextmanager
    def connection():
        conn = pool.getconn()
        try:
            yield conn
        finally:
            pool.putconn(conn)

    # app/main.py
    @app.get("/payments/{payment_id}")
    def get_payment(payment_id: str):
        with connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM payments WHERE id = %s", (payment_id,))
            return cur.fetchone()
    ```
    """
    helpers: dict[str, tuple[str, int, str]] = {}
    for path, facts in project.service_modules():
        module = facts.module
        for mark in facts.evidence.get("DAT007", ()):
            if mark.kind == "returns-connection":
                function = f"{module}.{mark.name}" if module else mark.name
                helpers[function] = (path, mark.line, mark.text("connect"))
    if not helpers:
        return
    for evidence in project.evidence("DAT007"):
        if evidence.kind != "unclosed":
            continue
        callee = evidence.name
        for defined, (path, line, connect) in helpers.items():
            if same_dotted_name(callee, defined):
                short = callee.rsplit(".", 1)[-1]
                ctx.report(
                    evidence.path,
                    evidence.line,
                    f"{short}() returns a new {connect}() connection ({path}:{line}) and this "
                    "handler never closes it: every request leaks a database connection until "
                    "the garbage collector finds it. Use a connection pool or close it "
                    "(with contextlib.closing(...) / try-finally)",
                )
                break
