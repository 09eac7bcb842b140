"""Concurrency: one database connection shared by the whole process (CON008)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import in_service_code, is_false, is_script, keyword_value

# -- CON008 ---------------------------------------------------------------------------------------

# DB-API drivers whose ``connect()`` opens one connection (not a pool).
_CONNECT = frozenset(
    {"psycopg2.connect", "psycopg.connect", "psycopg.Connection.connect", "pymysql.connect"}
    | {"MySQLdb.connect", "mysql.connector.connect", "sqlite3.connect", "pymssql.connect"}
    | {"oracledb.connect", "cx_Oracle.connect", "pyodbc.connect", "mariadb.connect"}
)


# AMQP clients whose connection object pika documents as not thread-safe, and whose blocking
# form answers broker heartbeats only while the application calls into it.
_BROKER_CONNECT = frozenset({"pika.BlockingConnection", "pika.adapters.BlockingConnection"})
# Frameworks serving requests on several threads (or answering them between idle gaps).
_WEB_FRAMEWORKS = frozenset(
    {"fastapi", "starlette", "flask", "django", "aiohttp", "sanic", "litestar", "tornado"}
    | {"falcon"}
)


def _driver_connect(value: ast.expr, ctx: PythonContext) -> str | None:
    if not isinstance(value, ast.Call):
        return None
    name = ctx.qualname(value.func) or ""
    return name if name in _CONNECT or name in _BROKER_CONNECT else None


@python_rule(
    code="CON008",
    name="process-wide-db-connection",
    category=Category.CONCURRENCY,
    severity=Severity.HIGH,
    summary="One database connection opened at import (or lazily into a global) and shared",
    nodes=(ast.Assign, ast.AnnAssign),
    confidence=Confidence.HIGH,
    fix="Use a pool and take a connection per request/task (psycopg_pool.ConnectionPool, "
    "SQLAlchemy create_engine, Django's connection handling), returned when the unit ends.",
)
def process_wide_db_connection(node: ast.Assign | ast.AnnAssign, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a DB-API connection (`psycopg2.connect`, `psycopg.connect`, `pymysql.connect`,
    `mysql.connector.connect`, `sqlite3.connect`, `pyodbc.connect`, `oracledb.connect`...)
    opened at module level -- at import -- or assigned lazily to a module global from a
    function (`global conn; conn = psycopg2.connect(...)`), in service code. Reported high in
    a module that runs a web or worker framework; medium (with medium confidence) in a
    plain database module, whose importers the rule does not see. A connection opened in
    `if __name__ == "__main__":`, in a script, or held in a local is not reported.

    ## Why it breaks production
    Web servers and workers run handlers on several threads (Flask and Django under a
    threaded server, FastAPI's sync endpoints, Dramatiq and Celery thread pools, consumer
    threads). One connection shared by all of them serialises every query, interleaves
    transactions -- a commit or rollback in one request ends another's -- and, once the
    database restarts or a proxy drops it, is dead for the life of the process: every request
    fails until a redeploy. sqlite3 refuses use from another thread outright. Opening it at
    import also makes the process fail to start when the database is briefly down.

    ## Example
    ```python
    conn = psycopg2.connect(os.environ["DATABASE_URL"])

    @app.get("/orders/{order_id}")
    def get_order(order_id: int):
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM orders WHERE id = %s", (order_id,))
            return cur.fetchone()
    ```

    ## Use instead
    ```python
    pool = psycopg_pool.ConnectionPool(os.environ["DATABASE_URL"], open=False)

    @app.get("/orders/{order_id}")
    def get_order(order_id: int):
        with pool.connection() as conn:
            return conn.execute("SELECT * FROM orders WHERE id = %s", (order_id,)).fetchone()
    ```
    """
    facts = ctx.facts
    if facts.is_test or facts.is_example or ctx.in_main_guard or is_script(ctx):
        return
    value = node.value
    if value is None or ctx.classes:
        return
    driver = _driver_connect(value, ctx)
    if driver is None or not isinstance(value, ast.Call):
        return
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    names = [t.id for t in targets if isinstance(t, ast.Name)]
    scope = ctx.function
    if scope is not None:
        # ``global conn`` then ``conn = psycopg2.connect(...)``: the same, opened lazily.
        names = [name for name in names if name in scope.globals]
    if not names:
        return
    if driver in _BROKER_CONNECT:
        if not facts.frameworks & _WEB_FRAMEWORKS:
            return  # a consumer's loop owns its connection, one thread answering heartbeats
        where = (
            "pika's connections and channels are not thread-safe, so concurrent publishes "
            "corrupt its frames, and a blocking connection left idle between requests misses "
            "the broker's heartbeats and is closed under it"
        )
    elif driver == "sqlite3.connect" and is_false(keyword_value(value, "check_same_thread")):
        where = "its check_same_thread=False lets every thread use it at once"
    elif driver == "sqlite3.connect":
        where = "sqlite3 raises ProgrammingError when another thread uses it"
    else:
        where = (
            "every thread's queries share its one transaction, and once the database restarts "
            "it stays broken until the process does"
        )
    message = (
        f"{names[0]} = {driver}() is one connection for the whole process: handlers and "
        f"workers running on several threads share it -- {where}. Take a connection per "
        "request or task from a pool"
    )
    if driver in _BROKER_CONNECT:
        message = (
            f"{names[0]} = {driver}() is one broker connection for the whole process: "
            f"handlers running on several threads share it -- {where}. Open one per thread "
            "(or hand publishing to one thread that owns the connection) and reconnect when "
            "it drops"
        )
    if in_service_code(ctx):
        ctx.report(node, message)
    else:
        ctx.report(node, message, severity=Severity.MEDIUM, confidence=Confidence.MEDIUM)
