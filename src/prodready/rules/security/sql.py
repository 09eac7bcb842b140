"""Security: SQL built from strings (SEC001)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from prodready.plugin import Category, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import argument, dotted, has_star_kwargs, keyword_value
from prodready.plugin.taint import report_deferred, sink_flow
from prodready.rules.security._shared import _MAX_DEPTH, Piece, _module_helper, _pieces, _safe_value


def _slots(pieces: list[Piece]) -> Iterator[tuple[str, ast.expr, str]]:
    """Each interpolated value with the literal text before it and the text right after it."""
    for index, piece in enumerate(pieces):
        if isinstance(piece, str):
            continue
        before = "".join(p if isinstance(p, str) else " ? " for p in pieces[:index])
        after = ""
        for following in pieces[index + 1 :]:
            if not isinstance(following, str):
                break
            after += following
        yield before, piece, after


# -- SEC001 ------------------------------------------------------------------------------------

_SQL_SHAPE = re.compile(
    r"(?is)\bselect\b.+\bfrom\b|\binsert\s+into\b|\bupdate\b.+\bset\b|\bdelete\s+from\b|\bwhere\b"
    r"|\b(?:create|drop|alter)\s+(?:table|index|view|database|schema)\b|\btruncate\b"
    r"|\border\s+by\b|\bgroup\s+by\b|\bvalues\s*\(|\bpragma\b|\bjoin\b.+\bon\b"
)
_SQL_SANITIZERS = frozenset(
    {"qn", "qn2", "Identifier", "escape_identifier", "identifier", "escape_name", "placeholders"}
)
_SQL_METHODS = (
    *("*.execute", "*.executemany", "*.executescript", "*.exec_driver_sql", "*.raw"),
    # asyncpg, databases, aiosqlite, clickhouse/bigquery clients
    *("*.fetch", "*.fetchrow", "*.fetchval", "*.fetch_all", "*.fetch_one", "*.fetch_val"),
    "*.query",
)
_SQL_FUNCTIONS = (
    "django.db.models.RawSQL",
    "django.db.models.expressions.RawSQL",
    "sqlalchemy.text",
    "sqlalchemy.sql.text",
    "sqlalchemy.sql.expression.text",
    "sqlmodel.text",
    "pandas.read_sql",
    "pandas.read_sql_query",
)


def _sql_pieces(node: ast.Call, ctx: PythonContext) -> list[ast.expr]:
    func = node.func
    method = func.attr if isinstance(func, ast.Attribute) else None
    if method == "extra":
        found: list[ast.expr] = []
        where = keyword_value(node, "where")
        if isinstance(where, ast.List | ast.Tuple):
            found.extend(where.elts)
        select = keyword_value(node, "select")
        if isinstance(select, ast.Dict):
            found.extend(select.values)
        return found
    sql = argument(node, 0, "sql")
    for name in ("query", "statement", "raw_query", "sql_query", "text"):
        sql = sql or keyword_value(node, name)
    return [sql] if sql is not None else []


# Builders whose result is a statement object, not text: passing one to execute() is safe.
_SQL_BUILDER_PREFIXES = ("sqlalchemy.", "sqlmodel.", "pypika.", "psycopg.sql.", "psycopg2.sql.")
_SQL_BUILDER_METHODS = frozenset(
    {"where", "filter", "filter_by", "values", "order_by", "limit", "offset", "join", "having"}
    | {"group_by", "returning", "select_from", "options", "on_conflict_do_update", "format"}
    | {"on_conflict_do_nothing", "execution_options", "params", "bindparams", "compile"}
)
# Where a whole statement coming from elsewhere can only be SQL text.
_WHOLE_STATEMENT_METHODS = frozenset(
    {"execute", "executemany", "executescript", "exec_driver_sql", "raw", "extra"}
)


@python_rule(
    code="SEC001",
    name="sql-built-from-strings",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="SQL statement built by string formatting from request data (SQL injection)",
    calls=(*_SQL_METHODS, "*.extra", *_SQL_FUNCTIONS),
    nodes=(ast.AugAssign, ModuleEnd),
    cwe=89,
    fix='Pass values as parameters: cursor.execute("... WHERE id = %s", (value,)).',
)
def sql_built_from_strings(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags SQL statements built with f-strings, `%`, `.format()`, `+` or `+=` from data the
    client controls -- request bodies, query strings, headers, handler parameters -- and run
    with `cursor.execute`/`executemany`/`executescript`, SQLAlchemy `text()`/`exec_driver_sql`,
    Django `Model.objects.raw()`/`.extra(where=...)`/`RawSQL`, asyncpg `fetch*` or
    `pandas.read_sql`. The data is followed through local variables and through helper
    functions of the module: a helper that builds the string, and a helper that runs a query
    with its parameter when a handler passes request data to it. Parameterised queries,
    constant SQL, numbers (`int(...)`, `item_id: int`), values mapped through a whitelist
    (`SORT_COLUMNS[sort]`) and quoted identifiers (`sql.Identifier`) are not reported, nor is
    SQL built from configuration, `sys.argv` or environment variables.

    ## Why it breaks production
    A value containing a quote ends the literal and turns the rest of the value into SQL:
    `' OR '1'='1` reads every row, `'; DROP TABLE orders; --` destroys data. Even without an
    attacker, a customer named O'Brien gets a 500 on every request. Injection is routinely
    found by automated scanners within days of a service going public.

    ## Example
    ```python
    @app.get("/users")
    def find_user(email: str):
        with conn.cursor() as cur:
            cur.execute(f"SELECT id, name FROM users WHERE email = '{email}'")
            return cur.fetchone()
    ```

    ## Use instead
    ```python
    @app.get("/users")
    def find_user(email: str):
        with conn.cursor() as cur:
            cur.execute("SELECT id, name FROM users WHERE email = %s", (email,))
            return cur.fetchone()
    ```
    Identifiers (sort columns, table names) cannot be parameters: map user input through a
    whitelist dict (`SORT_COLUMNS[sort]`) or quote them with `psycopg.sql.Identifier`.
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        return
    if ctx.facts.is_test:
        return
    appended: dict[str, list[ast.expr]] = ctx.rule_state(dict)
    if isinstance(node, ast.AugAssign):
        target = node.target
        if (
            isinstance(node.op, ast.Add)
            and isinstance(target, ast.Name)
            and isinstance(node.value, ast.JoinedStr | ast.BinOp | ast.Call)
        ):
            appended.setdefault(target.id, []).append(node.value)
        return
    if not isinstance(node, ast.Call) or (has_star_kwargs(node) and not node.args):
        return
    callee = ctx.call_name or (dotted(node.func) or "execute")
    reported: list[bool] = []  # one finding per call, whichever of its statements is first
    for sql in _sql_pieces(node, ctx):
        _check_sql(node, sql, callee, appended, reported, ctx)


def _check_sql(
    call: ast.Call,
    sql: ast.expr,
    callee: str,
    appended: dict[str, list[ast.expr]],
    reported: list[bool],
    ctx: PythonContext,
) -> None:
    short = callee.rsplit(".", 1)[-1]
    pieces = _pieces(sql, ctx, appended)
    if len(pieces) == 1 and not isinstance(pieces[0], str):
        # The whole statement is one value: request data itself, or text a helper built.
        if not _whole_statement(pieces[0], call, callee, ctx):
            return

        def report_whole(source: str) -> None:
            if reported:
                return
            reported.append(True)
            ctx.report(
                call,
                f"{short}() runs SQL text that carries {source}: whoever controls it "
                "controls the query (SQL injection). Keep the statement constant and pass "
                'values as query parameters (execute("... WHERE x = %s", (value,)))',
            )

        sink_flow([pieces[0]], ctx, report_whole, sanitizers=_SQL_TAINT_SANITIZERS, web_only=True)
        return
    if len(pieces) < 2:
        return
    text = " ".join(p if isinstance(p, str) else " ? " for p in pieces)
    fragment = callee.endswith(".RawSQL") or (
        isinstance(call.func, ast.Attribute) and call.func.attr == "extra"
    )  # SQL expressions, not statements
    if not fragment and not _SQL_SHAPE.search(text):
        return
    if not any(isinstance(p, str) and p.strip() for p in pieces):
        return
    values = [
        value
        for _before, value, _after in _slots(pieces)
        if not _safe_value(value, ctx, _SQL_SANITIZERS)
    ]

    def report(source: str) -> None:
        if reported:
            return
        reported.append(True)
        ctx.report(
            call,
            f"SQL passed to {short}() is built by string formatting from {source}: a quote "
            "in the value rewrites the query (SQL injection). Pass values as query "
            'parameters (execute("... WHERE x = %s", (value,))) and map identifiers through '
            "a whitelist",
        )

    sink_flow(values, ctx, report, sanitizers=_SQL_TAINT_SANITIZERS, web_only=True)


_SQL_TAINT_SANITIZERS = frozenset(
    _SQL_SANITIZERS
    | {"quote_name", "quote_ident", "quote_identifier", "escape_string", "literal"}
    | {"psycopg.sql.Identifier", "psycopg2.sql.Identifier", "psycopg2.extensions.quote_ident"}
    | {"bindparams", "params"}
)


def _whole_statement(value: ast.expr, call: ast.Call, callee: str, ctx: PythonContext) -> bool:
    """A statement passed whole is SQL text (not a query object) when the sink only takes
    text, or when it is request data or a string built by a helper of this module."""
    method = call.func.attr if isinstance(call.func, ast.Attribute) else None
    if callee not in _SQL_FUNCTIONS and method not in _WHOLE_STATEMENT_METHODS:
        return False
    if method == "raw" and "objects" not in (dotted(call.func) or ""):
        return False  # only Django's Manager.raw()
    expr: ast.expr | None = value
    last: ast.expr = value
    for _ in range(_MAX_DEPTH):
        if not isinstance(expr, ast.Name):
            break
        last = expr
        expr = ctx.value_of(expr.id)
    if expr is None:
        # a parameter: text handed in by the caller (``def run(sql): cur.execute(sql)``)
        scope = ctx.function
        return (
            isinstance(last, ast.Name)
            and scope is not None
            and any(arg.arg == last.id for arg in scope.params)
        )
    if isinstance(expr, ast.Name):
        return False
    if isinstance(expr, ast.Call):
        name = ctx.qualname(expr.func) or ""
        if name.startswith(_SQL_BUILDER_PREFIXES):
            return False
        if isinstance(expr.func, ast.Attribute) and expr.func.attr in _SQL_BUILDER_METHODS:
            return False
        if _constructs_object(expr.func, name):
            return False  # a request/statement object (``execute(OrdersGetRequest(oid))``)
        helper = _module_helper(expr, ctx)
        if helper is not None:
            return _returns_text(helper)
    return True


def _constructs_object(func: ast.expr, qualname: str) -> bool:
    """The call instantiates a class (a CapWords name such as ``OrdersGetRequest`` or
    ``api.RefundRequest``): its result is an object -- an HTTP SDK's request, a statement
    builder's node -- not SQL text, whatever ``execute()`` it is handed to. ``str`` and its
    subclasses are the exception."""
    last = (qualname or dotted(func) or "").rsplit(".", 1)[-1]
    return last[:1].isupper() and any(c.islower() for c in last) and last not in _TEXT_CLASSES


_TEXT_CLASSES = frozenset({"SafeString", "SafeText", "Markup", "LiteralString", "UserString"})


def _returns_text(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """The function returns a string it builds (f-string, ``%``, ``+``, ``.format``)."""
    built: set[str] = set()
    returns: list[ast.expr] = []
    for node in ast.walk(function):
        if isinstance(node, ast.Assign | ast.AugAssign) and _text_template(node.value, built):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            built.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Return) and node.value is not None:
            returns.append(node.value)
    return any(_text_template(value, built) for value in returns)


def _text_template(expr: ast.expr, built: set[str]) -> bool:
    if isinstance(expr, ast.JoinedStr):
        return True
    if isinstance(expr, ast.Name):
        return expr.id in built
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add | ast.Mod):
        sides = (expr.left, expr.right)
        return any(
            (isinstance(side, ast.Constant) and isinstance(side.value, str))
            or _text_template(side, built)
            for side in sides
        )
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        owner = expr.func.value
        return expr.func.attr in {"format", "join"} and (
            (isinstance(owner, ast.Constant) and isinstance(owner.value, str))
            or _text_template(owner, built)
        )
    return False
