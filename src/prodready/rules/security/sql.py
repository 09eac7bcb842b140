"""Security: SQL built from strings (SEC001)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from prodready.plugin import (
    Category,
    ModuleEnd,
    ModuleMemo,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import argument, dotted, has_star_kwargs, keyword_value
from prodready.plugin.taint import STORED_ROW_CHECK, report_deferred, sink_flow, tainted
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
    (`SORT_COLUMNS[sort]`), values the function first looked up with a parameterised query,
    giving up when no stored row has them (`row = db.execute("SELECT 1 FROM tenants WHERE slug =
    ?", (slug,)).fetchone(); if row is None: raise`), and quoted identifiers (`sql.Identifier`)
    are not reported, nor is
    SQL built from configuration, `sys.argv` or environment variables. When the text is
    formatted on another line than the one that runs it (`sql = f"..."` then
    `cur.execute(sql)`, a `build_query()` helper), the finding is where it is formatted -- the
    line to fix -- and names the line that runs it.

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

        built = _helper_build_site(pieces[0], call, ctx)

        def report_whole(source: str) -> None:
            if reported:
                return
            reported.append(True)
            if built is not None:
                site, builder = built
                sites = ctx.memo(_REPORTED_SITES)
                if id(site) in sites:
                    return
                sites.add(id(site))
                ctx.report(
                    site,
                    f"`{builder}()` builds SQL text here by string formatting from {source}, "
                    f"and {short}() on line {call.lineno} runs it: a quote in the value "
                    "rewrites the query (SQL injection). Pass values as query parameters "
                    '(execute("... WHERE x = %s", (value,))) and map identifiers through a '
                    "whitelist",
                )
                return
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

    site = _build_site(values, call, ctx)

    def report(source: str) -> None:
        if reported:
            return
        reported.append(True)
        if site is not None:
            sites = ctx.memo(_REPORTED_SITES)
            if id(site) in sites:
                return  # a clause two statements share (a count and a page): one finding
            sites.add(id(site))
            ctx.report(
                site,
                f"SQL text is built here by string formatting from {source}, and {short}() "
                f"on line {call.lineno} runs it: a quote in the value rewrites the query (SQL "
                "injection). Pass values as query parameters "
                '(execute("... WHERE x = %s", (value,))) and map identifiers through a whitelist',
            )
            return
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
    # a value the function looked up as a stored row, giving up when none has it
    | {STORED_ROW_CHECK}
)


def _whole_statement(value: ast.expr, call: ast.Call, callee: str, ctx: PythonContext) -> bool:
    """A statement passed whole is SQL text (not a query object) when the sink only takes
    text, or when it is request data or a string built by a helper of this module."""
    method = call.func.attr if isinstance(call.func, ast.Attribute) else None
    if callee not in _SQL_FUNCTIONS and method not in _WHOLE_STATEMENT_METHODS:
        # ``fetch``/``query`` name many non-SQL methods: a statement passed whole to one is
        # SQL text only when a helper of this module builds it from SQL (asyncpg's
        # ``conn.fetch(build_query(city))``).
        builder = _builder_call(value, ctx)
        return builder is not None and _returns_sql_text(builder)
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


# The build sites already reported in the module (``id`` of the interpolated value).
_REPORTED_SITES: ModuleMemo[set[int]] = ModuleMemo("SEC001:sites", lambda _: set())

# -- where a reviewer fixes it ---------------------------------------------------------------
# Bandit's B608 reports the formatted string, not the call that runs it: the fix (a placeholder
# and a parameter) goes where the text is formatted. When that is another line than the one
# that runs it -- ``sql = f"..."`` then ``cur.execute(sql)``, a multi-line ``text(...)``, a
# ``build_query()`` helper -- the finding is reported there and names the line that runs it.


def _build_site(values: list[ast.expr], call: ast.Call, ctx: PythonContext) -> ast.expr | None:
    """The first interpolated value that carries external data here (else the first that
    derives from a parameter, for a helper whose callers feed it), when it is not on the
    line where the statement runs."""
    ordered = sorted(values, key=lambda v: (v.lineno, v.col_offset))
    chosen = next(
        (
            value
            for value in ordered
            if tainted(value, ctx, sanitizers=_SQL_TAINT_SANITIZERS, web_only=True) is not None
        ),
        None,
    )
    if chosen is None:
        scope = ctx.function
        params = {arg.arg for arg in scope.params} if scope is not None else set()
        chosen = next((v for v in ordered if _mentions(v, params, ctx)), None)
    if chosen is None or chosen.lineno == call.lineno:
        return None
    return chosen


def _mentions(value: ast.expr, params: set[str], ctx: PythonContext, depth: int = 0) -> bool:
    """``value`` reads one of ``params``, directly or through local names bound from them."""
    for node in ast.walk(value):
        if not isinstance(node, ast.Name):
            continue
        if node.id in params:
            return True
        bound = ctx.value_of(node.id) if depth < _MAX_DEPTH else None
        if bound is not None and bound is not node and _mentions(bound, params, ctx, depth + 1):
            return True
    return False


def _builder_call(
    value: ast.expr, ctx: PythonContext
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The module helper whose call produced ``value`` (followed through local names)."""
    expr: ast.expr | None = value
    for _ in range(_MAX_DEPTH):
        if not isinstance(expr, ast.Name):
            break
        bound = ctx.value_of(expr.id)
        if bound is None or bound is expr:
            return None
        expr = bound
    if not isinstance(expr, ast.Call):
        return None
    helper = _module_helper(expr, ctx)
    return helper if helper is not None and _returns_text(helper) else None


def _returns_sql_text(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """The literal text of the function reads as an SQL statement."""
    text = " ".join(
        node.value
        for node in ast.walk(function)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    )
    return bool(_SQL_SHAPE.search(text))


def _helper_build_site(
    value: ast.expr, call: ast.Call, ctx: PythonContext
) -> tuple[ast.expr, str] | None:
    """For a statement passed whole: the place where a module helper formats a parameter
    into it -- the helper that built ``value``, or, when ``value`` is a parameter of the
    enclosing helper (``def query(sql): cur.execute(sql)``), the first builder whose result a
    caller of the module passes for it (``query(build_filter(status))``)."""
    builder = _builder_call(value, ctx)
    if builder is None and isinstance(value, ast.Name):
        builder = _builder_passed_for(value.id, ctx)
    if builder is None or not _returns_sql_text(builder):
        return None
    params = {arg.arg for arg in builder.args.args + builder.args.kwonlyargs}
    sites = sorted(
        (
            piece
            for piece in _interpolated(builder)
            if any(isinstance(n, ast.Name) and n.id in params for n in ast.walk(piece))
        ),
        key=lambda v: (v.lineno, v.col_offset),
    )
    return (sites[0], builder.name) if sites else None


def _builder_passed_for(
    name: str, ctx: PythonContext
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    scope = ctx.function
    if scope is None or scope.parent is not None or scope.class_info is not None:
        return None
    function = scope.node
    positional = [arg.arg for arg in function.args.args]
    if name not in positional:
        return None
    position = positional.index(name)
    for node in ast.walk(ctx.tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == function.name
        ):
            continue
        passed = node.args[position] if position < len(node.args) else keyword_value(node, name)
        if isinstance(passed, ast.Call):
            helper = _module_helper(passed, ctx)
            if helper is not None and helper is not function and _returns_text(helper):
                return helper
    return None


def _interpolated(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    """The values a function formats into text: f-string fields, ``"..." % x``, ``"..." + x``
    and ``"...".format(x)`` arguments."""
    found: list[ast.expr] = []
    for node in ast.walk(function):
        if isinstance(node, ast.FormattedValue):
            found.append(node.value)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
            sides = (node.left, node.right)
            if any(isinstance(s, ast.Constant) and isinstance(s.value, str) for s in sides):
                found.extend(s for s in sides if not isinstance(s, ast.Constant | ast.BinOp))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and isinstance(node.func.value, ast.Constant)
        ):
            found.extend(node.args)
            found.extend(k.value for k in node.keywords)
    return found
