"""Performance: a whole-table read hidden in a repository or service helper that request
handlers call (PRF021; PRF018 judges the queries a handler writes itself)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    Mark,
    ProjectContext,
    ProjectFacts,
    PythonContext,
    Severity,
    project_rule,
)
from prodready.plugin.analysis import (
    ProjectFunction,
    QueryChain,
    SemanticModel,
    is_db_session,
    is_script,
    semantic_model,
    sqlalchemy_query,
    string_fragments,
    walk_body,
)
from prodready.rules.data_access._shared import _is_cursor
from prodready.rules.performance._shared import _short
from prodready.rules.performance.blocking_helpers import _targets

# Steps that bound what a SQLAlchemy query returns.
_BOUNDING_STEPS = frozenset(
    {"limit", "offset", "first", "one", "one_or_none", "scalar", "scalar_one", "get", "[]"}
    | {"paginate", "slice", "fetchmany", "fetchone", "scalar_one_or_none", "distinct"}
)
# A helper that takes one of these pages its rows (or lets its caller do so).
_PAGING_PARAMETERS = frozenset(
    {"limit", "page", "offset", "per_page", "page_size", "size", "cursor", "after", "before"}
    | {"max_rows", "max_results", "count", "top", "n", "batch_size", "chunk_size"}
)
_BOUNDED_SQL = re.compile(r"\b(limit|fetch\s+first|fetch\s+next|top\s+\d|count\s*\()", re.I)
# A word one of which every match of _BOUNDED_SQL contains (lowercased).
_BOUNDED_WORDS = ("limit", "fetch", "top", "count")


def _bounded_sql(text: str) -> bool:
    """``_BOUNDED_SQL.search(text)``: the regex, which has no literal prefix to skip ahead by,
    is not run on an ASCII text without one of its words (it cost more than the rule's walk)."""
    if text.isascii():
        lowered = text.lower()
        if not any(word in lowered for word in _BOUNDED_WORDS):
            return False
    return _BOUNDED_SQL.search(text) is not None


# One row by its key (``Order.id == order_id``, ``id = %s``, ``.in_(ids)``).
_ONE_ROW = re.compile(r"(\.id\s*==|\bid\s*=\s*(%s|\?|:\w+|\$\d)|\.in_\(|\.get\()", re.I)
# The children of one parent (a foreign key compared for equality).
_ONE_PARENT = re.compile(r"(_id\s*==|_id[\"`\]]?\s*=\s*(%s|\?|:\w+|\$\d)|==\s*\w+\.id\b)", re.I)
# Rows named by the caller's list (``IN (%s, %s)``, a ``VALUES`` list joined in) or rows of
# the database's own catalog (its tables and columns): bounded by the input or the schema.
_GIVEN_ROWS = re.compile(
    r"(\bin\s*\(\s*(%s|\?|:\w|\$\d|\{)|\bvalues\b|\bjoin\s*\(\s*\)|information_schema"
    r"|\bpg_\w+|sqlite_master)",
    re.I,
)
MAX_DEPTH = 2


def _inside_list(call: ast.Call, ctx: PythonContext) -> bool:
    """``list(result.scalars().all())``: the ``all()`` is the ``list()``'s own load."""
    parent = ctx.parent(call)
    return (
        isinstance(parent, ast.Call)
        and isinstance(parent.func, ast.Name)
        and parent.func.id == "list"
    )


def _collect(node: ast.AST, ctx: PythonContext) -> list[Mark] | None:
    if ctx.facts.is_test or not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    if ctx.route is not None:
        calls = [n for n in walk_body(node.body) if isinstance(n, ast.Call)]
        if not calls:
            return None
        # ``OrderRepository(db).list_open()``: a method of an object made on the spot, which
        # the call graph does not follow (it types names, not expressions).
        made = sorted(
            {
                f"{owner}.{call.func.attr}@{call.lineno}"
                for call in calls
                if isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Call)
                and (owner := ctx.qualname(call.func.value.func) or "")
            }
        )
        lines = sorted({call.lineno for call in calls})
        return [
            Mark.of("handler", node.lineno, lines=",".join(map(str, lines)), made=" ".join(made))
        ]
    if is_script(ctx):
        return None
    arguments = node.args
    names = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
    if names & _PAGING_PARAMETERS:
        return None
    text = ctx.segment(node)
    if ".limit(" in text or "paginate" in text or _bounded_sql(text):
        return None
    found: list[Mark] = []
    # Rows of one parent, one column's distinct values or filters the caller hands over
    # (``*scope``): how many there are is a fact of the domain (low, as PRF018 does).
    parent = (
        _ONE_PARENT.search(text) is not None or ".distinct(" in text or arguments.vararg is not None
    )
    for inner in walk_body(node.body):
        if (
            isinstance(inner, ast.Call)
            and _may_load_rows(inner)  # before the parent map _inside_list needs
            and not _inside_list(inner, ctx)
        ):
            query = _materialized(inner, ctx)
            if query is not None:
                if _ONE_ROW.search(query) or _GIVEN_ROWS.search(query):
                    continue
                of_parent = parent or _ONE_PARENT.search(query) is not None
                found.append(
                    Mark.of(
                        "unbounded",
                        inner.lineno,
                        name=_short(ctx, inner),
                        parent=of_parent,
                        function=str(node.lineno),
                    )
                )
    return found or None


def _may_load_rows(call: ast.Call) -> bool:
    """A call ``_materialized`` may take for a load: ``list(...)``, ``.all()``, ``.fetchall()``."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id == "list"
    return isinstance(func, ast.Attribute) and func.attr in ("all", "fetchall")


def _materialized(call: ast.Call, ctx: PythonContext) -> str | None:
    """The text of the query whose every row ``call`` loads into memory, or None:
    ``session.query(X)...all()``, ``session.scalars(stmt).all()``, ``list(session.scalars(
    stmt))``, ``cursor.fetchall()`` after a ``SELECT`` the function shows."""
    func = call.func
    if isinstance(func, ast.Name) and func.id == "list" and len(call.args) == 1:
        chain = sqlalchemy_query(call.args[0], ctx)
        if chain is None:
            return _session_read(call.args[0], ctx)
        if chain.terminal not in {"scalars", "execute", "all"}:
            return None
        return _chain_text(chain, ctx)
    if not isinstance(func, ast.Attribute):
        return None
    if func.attr == "all" and not call.args:
        chain = sqlalchemy_query(call, ctx)
        if chain is None:
            return _session_read(func.value, ctx)
        return _chain_text(chain, ctx)
    if func.attr == "fetchall" and _is_cursor(func.value, ctx):
        return _select_run_by(func.value, call, ctx)
    return None


def _session_read(expr: ast.AST, ctx: PythonContext) -> str | None:
    """``self.db.scalars(stmt.order_by(...))`` / ``self.session.execute(stmt).scalars()``:
    a session held by the object (which the ORM recogniser does not type) running a
    ``select()`` the function builds."""
    while (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr in {"scalars", "mappings", "unique"}
        and not expr.args
    ):
        expr = expr.func.value  # ``.scalars()`` / ``.mappings()`` of an execute()'s result
    if not (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr in {"scalars", "execute"}
        and expr.args
        and is_db_session(expr.func.value, ctx)
    ):
        return None
    statement = expr.args[0]
    base = statement
    while isinstance(base, ast.Call) and isinstance(base.func, ast.Attribute):
        base = base.func.value  # ``stmt.order_by(...)``
    text = ctx.segment(statement)
    if isinstance(base, ast.Name):
        scope = ctx.function
        # Every way the function builds the statement (``stmt = stmt.where(...)`` too).
        for node in ast.walk(scope.node) if scope is not None else ():
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == base.id for t in node.targets
            ):
                text += " " + ctx.segment(node.value)
    if "select(" not in text or ".limit(" in text or ".offset(" in text:
        return None
    return text


def _chain_text(chain: QueryChain, ctx: PythonContext) -> str | None:
    if set(chain.steps) & _BOUNDING_STEPS:
        return None
    statement = chain.statement
    text = ctx.segment(chain.node)
    if statement is not None:
        text += " " + ctx.segment(statement)
        value = ctx.value_of(statement.id) if isinstance(statement, ast.Name) else None
        if value is not None:
            text += " " + ctx.segment(value)
    return text


def _select_run_by(cursor: ast.expr, fetch: ast.Call, ctx: PythonContext) -> str | None:
    """The SQL the cursor ran before ``fetch`` in the same function, when it is a SELECT
    without a bound; a statement built by a function of the module counts by its text."""
    scope = ctx.function
    if scope is None:
        return None
    receiver = ctx.segment(cursor)
    sql = ""
    for node in ast.walk(scope.node):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "execute"
            and node.args
            and node.lineno <= fetch.lineno
            and ctx.segment(node.func.value) == receiver
        ):
            sql = " ".join(string_fragments(node.args[0], ctx)) or _built_by(node.args[0], ctx)
    if "select" not in sql.lower() or _BOUNDED_SQL.search(sql):
        return None
    return sql


def _built_by(expr: ast.expr, ctx: PythonContext) -> str:
    """``cur.execute(_history_query(sort), ...)``: the strings a module function returns."""
    if not (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name)):
        return ""
    for statement in ctx.tree.body:
        if isinstance(statement, ast.FunctionDef) and statement.name == expr.func.id:
            return " ".join(
                fragment
                for node in ast.walk(statement)
                if isinstance(node, ast.Return) and node.value is not None
                for fragment in string_fragments(node.value, ctx)
            )
    return ""


@project_rule(
    code="PRF021",
    name="unbounded-query-in-helper",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Repository/service helper loads every matching row for a request handler",
    nodes=(FunctionEnd,),
    collect=_collect,
    fix="Page the helper: take limit/offset (or a keyset cursor) and add .limit() / LIMIT, "
    "with a capped page size; or stream the rows.",
)
def unbounded_query_in_helper(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a query in a project helper -- a repository method, a service function, a
    data-access module -- that loads every matching row into memory (`session.query(X)...
    .all()`, `session.scalars(select(X)...).all()`, `list(session.scalars(stmt))`,
    `cursor.fetchall()` after a `SELECT` without `LIMIT`, also built by a function of the
    module) when a request handler calls it, directly or through one more helper. Helpers
    that take a page parameter (`limit`, `page`, `offset`, `cursor`...), bound the query
    (`.limit()`, `LIMIT`, `.first()`, one row by key) or are never reached from a handler are
    left alone. Rows of one parent (`WHERE member_id = %s`, `Order.restaurant_id == id`) are
    reported low with confidence low: whether one parent's children grow without bound is a
    fact of the domain. PRF018 judges the queries a handler writes itself.

    ## Why it breaks production
    The handler looks harmless -- it calls `repo.list_for_customer(id)` -- but the helper
    returns the customer's whole history. A year of data later the endpoint builds tens of
    thousands of objects and a huge response per request; memory spikes, latency follows the
    table's size and one heavy client can take the worker down.

    ## Example
    ```python
    # shop/repository.py
    def orders_of(session, customer_id):
        stmt = select(Order).where(Order.status != "draft")
        return session.scalars(stmt.order_by(Order.created.desc())).all()

    # shop/api.py
    @app.get("/orders")
    def list_orders(customer_id: int, session=Depends(get_session)):
        return orders_of(session, customer_id)
    ```

    ## Use instead
    ```python
    def orders_of(session, customer_id, limit=50, offset=0):
        stmt = select(Order).where(Order.customer_id == customer_id)
        stmt = stmt.order_by(Order.created.desc()).limit(min(limit, 200)).offset(offset)
        return session.scalars(stmt).all()
    ```
    """
    model = semantic_model(project)
    at: dict[tuple[str, int], ProjectFunction] = {
        (function.path, function.summary.line): function for function in model.functions.values()
    }
    unbounded: dict[str, list[tuple[str, int, str, bool]]] = {}
    handlers: list[tuple[ProjectFunction, set[int], list[tuple[str, int]]]] = []
    for evidence in project.evidence("PRF021"):
        if evidence.kind == "unbounded":
            continue
        function = at.get((evidence.path, evidence.line))
        if function is not None and evidence.kind == "handler":
            lines = {int(n) for n in evidence.text("lines").split(",") if n}
            parts = [item.rpartition("@") for item in evidence.text("made").split()]
            handlers.append((function, lines, [(name, int(line)) for name, _, line in parts]))
    for evidence in project.evidence("PRF021"):
        if evidence.kind != "unbounded":
            continue
        owner = at.get((evidence.path, int(evidence.text("function") or 0)))
        if owner is not None:
            unbounded.setdefault(owner.qualname, []).append(
                (evidence.path, evidence.line, evidence.name, evidence.flag("parent"))
            )
    if not unbounded:
        return
    reached: dict[str, tuple[ProjectFunction, int]] = {}
    for handler, lines, made in handlers:
        module = handler.qualname[: -len(handler.summary.name) - 1]
        calls: list[tuple[str, int]] = [
            (call.target, call.line) for call in handler.summary.calls if call.line in lines
        ]
        for name, line in calls + made:
            for target in _targets(model, name, module, {}):
                for helper in _within(model, target):
                    reached.setdefault(helper, (handler, line))
    for helper, (handler, line) in sorted(reached.items()):
        for path, query_line, text, parent in unbounded.get(helper, []):
            name = model.functions[helper].summary.short_name
            ctx.report(
                path,
                query_line,
                f"{text} loads every matching row in {name}(), which the request handler "
                f"{handler.summary.short_name}() calls ({handler.path}:{line}) with no page or "
                "limit: the response and the worker's memory grow with the table"
                + (
                    ". The rows belong to one parent: prodready could not tell whether they "
                    "grow without bound"
                    if parent
                    else ""
                ),
                severity=Severity.LOW if parent else None,
                confidence=Confidence.LOW if parent else None,
            )


def _within(model: SemanticModel, target: str) -> list[str]:
    """``target`` and the project functions it calls, ``MAX_DEPTH`` deep."""
    found = [target]
    frontier = [target]
    for _ in range(MAX_DEPTH - 1):
        frontier = [callee for name in frontier for callee in model.callees(name)]
        found.extend(frontier)
    return found
