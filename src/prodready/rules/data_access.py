"""Data access: how the service talks to its database under real data volumes."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from prodready.engine.analysis import (
    DJANGO_FETCH_METHODS,
    DJANGO_LAZY_METHODS,
    DJANGO_WRITE_METHODS,
    QueryChain,
    django_query,
    dotted,
    factory_calls,
    has_keyword,
    in_service_code,
    in_task,
    is_db_session,
    is_false,
    is_local_name,
    is_script,
    keyword_value,
    method_chain,
    module_function,
    module_functions,
    sqlalchemy_query,
    string_fragments,
    uses_django_orm,
    walk_body,
)
from prodready.engine.project import ProjectContext, ProjectFacts
from prodready.engine.python import FunctionEnd, ModuleEnd, PythonContext, Scope
from prodready.engine.registry import project_rule, python_rule
from prodready.model import Category, Confidence, Severity

_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_CURSOR_NAMES = frozenset({"cursor", "cur", "curs", "conn", "connection", "db", "cnx", "con"})
_DBAPI_MODULES = ("sqlite3", "psycopg2", "psycopg", "pymysql", "MySQLdb", "mysql.connector")
_SQL_VERB = re.compile(r"^\s*\(?\s*(select|update|delete|insert|with)\b", re.IGNORECASE)


def _skipped_module(ctx: PythonContext) -> bool:
    """Tests and migrations: data volumes and request paths of production do not apply."""
    return ctx.facts.is_test or "migrations" in ctx.path.split("/")[:-1]


def _is_cursor(expr: ast.AST, ctx: PythonContext) -> bool:
    """A DB-API cursor or connection (``cursor``, ``conn``, ``sqlite3.connect(...)``...)."""
    name = ctx.qualname(expr) or ""
    if name.startswith(_DBAPI_MODULES):
        return True
    text = dotted(expr)
    if text is None:
        return isinstance(expr, ast.Call) and name.endswith(".cursor")
    last = text.rsplit(".", 1)[-1].lower()
    return last in _CURSOR_NAMES or last.endswith(("_cursor", "_conn", "_connection"))


def _sql_text(expr: ast.AST | None, ctx: PythonContext) -> str:
    return " ".join(string_fragments(expr, ctx))


# -- DAT001 ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _LoopState:
    seen: set[int] = field(default_factory=set)  # inner calls of chains already judged
    derived: dict[str, ast.AST] = field(default_factory=dict)  # name -> loop it derives from
    targets: dict[int, set[str]] = field(default_factory=dict)  # loop id -> its row variables


def _target_names(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def _loop_names(loop: ast.AST, ctx: PythonContext) -> set[str]:
    """Names bound per iteration by a loop over rows (not over a batch range or a constant)."""
    if isinstance(loop, ast.For | ast.AsyncFor):
        if _stepped_range(loop.iter) or _fixed_iterable(loop.iter, ctx):
            return set()  # for start in range(0, n, 1000): a batch loop
        return _target_names(loop.target)
    if isinstance(loop, _COMPREHENSIONS):
        names: set[str] = set()
        for generator in loop.generators:
            if not _fixed_iterable(generator.iter, ctx):
                names |= _target_names(generator.target)
        return names
    return set()


def _fixed_iterable(expr: ast.expr, ctx: PythonContext) -> bool:
    """A small iterable fixed in the code: a literal list/tuple/set, a constant
    (``STATUSES``, ``Status.choices``), ``range(3)``, or ``.items()`` of one."""
    if isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Attribute) and func.attr in {"items", "keys", "values"}:
            return _fixed_iterable(func.value, ctx)
        if isinstance(func, ast.Name) and func.id in {"enumerate", "sorted", "reversed"}:
            return bool(expr.args) and _fixed_iterable(expr.args[0], ctx)
        if isinstance(func, ast.Name) and func.id == "range":
            return all(isinstance(a, ast.Constant) for a in expr.args)
        return False
    if isinstance(expr, ast.List | ast.Tuple | ast.Set | ast.Dict):
        return True
    if isinstance(expr, ast.Name):
        if expr.id.isupper():
            return True
        value = ctx.value_of(expr.id)
        return isinstance(value, ast.List | ast.Tuple | ast.Set | ast.Dict)
    if isinstance(expr, ast.Attribute):
        return expr.attr.isupper() or expr.attr in {"choices", "labels", "values", "names"}
    return False


def _stepped_range(expr: ast.expr) -> bool:
    return (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Name)
        and expr.func.id == "range"
        and len(expr.args) == 3
    )


def _loop_variables(ctx: PythonContext, state: _LoopState) -> dict[str, ast.AST]:
    """Loop targets of the enclosing loops and the names derived from them in the loop body."""
    found: dict[str, ast.AST] = {}
    active = {id(loop) for loop in ctx.loops}
    for loop in ctx.loops:
        names = state.targets.get(id(loop))
        if names is None:
            names = state.targets[id(loop)] = _loop_names(loop, ctx)
        for name in names:
            found[name] = loop
    for name, loop in state.derived.items():
        if id(loop) in active and name not in found:
            found[name] = loop
    return found


_BATCH_OPERATORS = frozenset({"in_", "any_", "between", "notin_"})
_BATCH_LOOKUPS = ("__in", "__range")


def _references(expressions: list[ast.expr]) -> set[str]:
    """Names an argument list reads, except inside ``__in=`` lookups and ``.in_()`` calls
    (a batched query over a chunk of ids is the fix, not the problem)."""
    names: set[str] = set()
    stack: list[ast.AST] = list(expressions)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            names.add(node.id)
            continue
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr in _BATCH_OPERATORS:
                stack.append(node.func.value)
                continue
            stack.append(node.func)
            stack.extend(node.args)
            stack.extend(
                k.value for k in node.keywords if not (k.arg or "").endswith(_BATCH_LOOKUPS)
            )
            continue
        if isinstance(node, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return names


def _chain_arguments(chain: QueryChain) -> list[ast.expr]:
    arguments: list[ast.expr] = []
    for call in chain.calls:
        arguments.extend(call.args)
        arguments.extend(
            k.value for k in call.keywords if not (k.arg or "").endswith(_BATCH_LOOKUPS)
        )
    return arguments


def _prefetched(loop: ast.AST, ctx: PythonContext) -> bool | None:
    """Whether the iterable of ``loop`` is a queryset with ``prefetch_related`` (None: unknown)."""
    iterable: ast.AST | None = None
    if isinstance(loop, ast.For | ast.AsyncFor):
        iterable = loop.iter
    elif isinstance(loop, _COMPREHENSIONS):
        iterable = loop.generators[0].iter
    for _ in range(3):
        if not isinstance(iterable, ast.Name):
            break
        iterable = ctx.value_of(iterable.id)
    if iterable is None or isinstance(iterable, ast.Name):
        return None
    if "prefetch_related" in ctx.segment(iterable):
        return True
    return False if django_query(iterable) is not None else None


# QuerySet methods that plain containers lack (``dict.values()``/``.get()``, ``list.count(x)``
# are checked for their Django-only call shapes below).
_QUERYSET_METHODS = DJANGO_LAZY_METHODS | DJANGO_FETCH_METHODS
_RELATED_READS = frozenset(
    {"all", "filter", "exclude", "values_list", "exists", "first", "last", "count"}
    | {"aggregate", "annotate", "order_by", "select_related", "only", "defer", "values", "get"}
    | {"latest", "earliest", "in_bulk", "distinct"}
)
# Related-manager reads answered from a prefetch cache.
_PREFETCH_SAFE = frozenset({"all", "count", "exists", "first", "last"})


def _related_manager_query(
    node: ast.Call, ctx: PythonContext, variables: dict[str, ast.AST], state: _LoopState
) -> bool:
    """``order.items.all()`` / ``order.items.filter(...)`` on a loop variable: a query per row
    unless the loop's queryset prefetched the relation."""
    base, steps = method_chain(node)
    if not isinstance(base, ast.Name) or base.id not in variables or len(steps) < 2:
        return False
    manager, manager_step = steps[0]
    if not isinstance(manager_step, ast.Attribute) or manager.startswith("_"):
        return False
    if manager == "objects":
        return False
    for name, step in steps[1:]:
        if not isinstance(step, ast.Call) or name not in _RELATED_READS:
            return False
        if name == "values" and not step.args:
            return False  # dict.values()
        if name in {"get", "count"} and step.args:
            return False  # dict.get(key), list.count(item)
    if not uses_django_orm(ctx):
        return False
    state.seen.update(id(step) for _, step in steps)
    # Reads answered from a prefetch cache are fine unless the loop's queryset has no prefetch.
    return steps[1][0] not in _PREFETCH_SAFE or _prefetched(variables[base.id], ctx) is False


def _dbapi_query(node: ast.Call, ctx: PythonContext, variables: dict[str, ast.AST]) -> bool:
    func = node.func
    if not isinstance(func, ast.Attribute) or func.attr != "execute" or not node.args:
        return False
    if not _is_cursor(func.value, ctx):
        return False
    sql = node.args[0]
    text = _sql_text(sql, ctx)
    if not _SQL_VERB.match(text) or text.lstrip("( ").lower().startswith("insert"):
        return False
    parameters = [*node.args[1:], *(k.value for k in node.keywords)]
    if isinstance(sql, ast.JoinedStr):
        parameters.extend(v.value for v in sql.values if isinstance(v, ast.FormattedValue))
    return bool(_references(parameters) & variables.keys())


@python_rule(
    code="DAT001",
    name="query-in-loop",
    category=Category.DATA_ACCESS,
    severity=Severity.MEDIUM,
    summary="Database query inside a loop over rows (N+1 queries)",
    nodes=(ast.Call, ast.Assign),
    fix="Fetch everything in one query: select_related/prefetch_related, in_bulk, "
    "filter(id__in=...), selectinload, or WHERE id IN (...).",
)
def query_in_loop(node: ast.Call | ast.Assign, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags database queries run once per iteration of a loop (or comprehension) whose arguments
    come from the loop variable: Django `Model.objects.get/filter/...`, a related manager on the
    loop variable (`order.items.all()`) that is not prefetched, SQLAlchemy
    `session.query(...)`, `session.get(...)`, `session.execute(select(...))`,
    `session.scalars(...)`, `Model.query...`, and DB-API `cursor.execute(...)` of a `SELECT`,
    `UPDATE` or `DELETE`.

    ## Why it breaks production
    This is the N+1 query problem. With 10 rows in the dev database the page makes 11 fast
    queries; with 5,000 rows in production it makes 5,001 round trips, each paying network
    latency and a connection from the pool. Latency grows linearly with the data, the database
    CPU spikes, and the endpoint times out as soon as a customer has a big account.

    ## Example
    ```python
    orders = Order.objects.filter(customer=request.user)
    for order in orders:
        order.shipping = Address.objects.get(id=order.address_id)
        order.lines = order.items.all()
    ```

    ## Use instead
    ```python
    orders = (
        Order.objects.filter(customer=request.user)
        .select_related("address")
        .prefetch_related("items")
    )
    for order in orders:
        order.shipping = order.address
        order.lines = order.items.all()  # served from the prefetch cache
    ```
    With SQLAlchemy use `selectinload()`/`joinedload()` or one `select(...).where(X.id.in_(ids))`;
    with raw SQL one query with `WHERE id = ANY(%s)` / `IN (...)`.
    """
    if not ctx.loops or ctx.function is None or _skipped_module(ctx):
        return
    state: _LoopState = ctx.rule_state(_LoopState)
    if isinstance(node, ast.Assign):
        variables = _loop_variables(ctx, state)
        derived = bool(_references([node.value]) & variables.keys())
        for target in node.targets:
            for name in _target_names(target):
                if derived:
                    state.derived[name] = ctx.loops[-1]
                else:
                    state.derived.pop(name, None)
        return
    if id(node) in state.seen or not isinstance(node.func, ast.Attribute):
        return
    variables = _loop_variables(ctx, state)
    if not variables:
        return
    chain = django_query(node) or sqlalchemy_query(node, ctx)
    if chain is not None:
        if any(id(call) in state.seen for call in chain.calls):
            return  # the rest of a chain already judged (result = session.execute(...))
        state.seen.update(id(call) for call in chain.calls)
        if chain.orm == "django" and (
            set(chain.steps) & DJANGO_WRITE_METHODS or chain.steps[0] not in _QUERYSET_METHODS
        ):
            # Writes in a loop are a different problem (bulk_create/bulk_update); custom
            # manager methods (ContentType.objects.get_for_model) may be cached.
            return
        if not _references(_chain_arguments(chain)) & variables.keys():
            return
        if chain.orm == "django":
            advice = (
                "fetch the rows before the loop with select_related()/prefetch_related(), "
                "in_bulk() or filter(id__in=...)"
            )
        else:
            advice = (
                "load them before the loop with selectinload()/joinedload() or one "
                "select(...).where(X.id.in_(ids))"
            )
        ctx.report(
            node,
            f"{_short(ctx, node)} runs one query per loop iteration (N+1): {advice}",
        )
        return
    if _related_manager_query(node, ctx, variables, state):
        ctx.report(
            node,
            f"{_short(ctx, node)} queries the database once per row (N+1): add "
            "prefetch_related() to the queryset the loop iterates",
            confidence=Confidence.MEDIUM,
        )
        return
    if _dbapi_query(node, ctx, variables) and (
        ctx.route is not None or in_task(ctx) or in_service_code(ctx)
    ):
        ctx.report(
            node,
            "SQL executed once per loop iteration with the loop's values (N+1): run one query "
            "with WHERE id IN (...)/= ANY(%s), or executemany() for writes",
        )


def _short(ctx: PythonContext, node: ast.AST, limit: int = 60) -> str:
    text = " ".join(ctx.segment(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- DAT002 ---------------------------------------------------------------------------------------

_UNIQUE_LOOKUPS = frozenset({"pk", "id", "uuid", "slug", "pk__exact", "id__exact"})
_BOUNDING_STEPS = frozenset(
    {"limit", "paginate", "first", "one", "one_or_none", "scalar", "slice", "get", "[]"}
    | {"fetch", "first_or_404", "get_or_404", "one_or_404", "scalar_one", "scalar_one_or_none"}
)
_MATERIALIZERS = frozenset({"builtins.list", "builtins.tuple", "builtins.sorted"})
_RENDERERS = ("django.shortcuts.render", "django.template.response.TemplateResponse")


@dataclass(slots=True)
class _UnboundedState:
    candidates: list[ast.AST] = field(default_factory=list)  # materialized expressions
    querysets: set[str] = field(default_factory=set)
    bounded: set[str] = field(default_factory=set)
    cursor_sql: dict[str, str] = field(default_factory=dict)
    raw: dict[str, ast.Call] = field(default_factory=dict)  # name -> its unbounded raw() query


def _unique_filter(call: ast.Call) -> bool:
    """A filter by primary key / unique field, or by a list of keys given by the caller."""
    for item in call.keywords:
        arg = item.arg or ""
        if arg in _UNIQUE_LOOKUPS or arg.endswith("__in"):
            return True
    for argument in call.args:
        for node in ast.walk(argument):
            if (
                isinstance(node, ast.Compare)
                and isinstance(node.ops[0], ast.Eq)
                and isinstance(node.left, ast.Attribute)
                and node.left.attr in {"id", "uuid"}
            ):
                return True
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "in_"
            ):
                return True
    return False


def _unbounded_django(expr: ast.AST) -> QueryChain | None:
    chain = django_query(expr)
    if chain is None or chain.sliced or chain.terminal not in DJANGO_LAZY_METHODS:
        return None
    if "none" in chain.steps or any(_unique_filter(call) for call in chain.calls):
        return None
    return chain


def _queryset_name(expr: ast.AST) -> str | None:
    """``qs`` / ``qs.values("id")`` / ``qs.order_by(...)``: lazy steps on a local name."""
    base, steps = method_chain(expr)
    if not isinstance(base, ast.Name):
        return None
    for name, step in steps:
        if not isinstance(step, ast.Call) or name not in DJANGO_LAZY_METHODS:
            return None
        if _unique_filter(step):
            return None
    return base.id


def _add_candidate(expr: ast.AST | None, state: _UnboundedState, ctx: PythonContext) -> None:
    if expr is None:
        return
    chain = _unbounded_django(expr)
    if chain is not None and _per_row_lookup(chain, ctx):
        return
    state.candidates.append(expr)


@python_rule(
    code="DAT002",
    name="unbounded-query-in-endpoint",
    category=Category.DATA_ACCESS,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Endpoint loads every matching row (no LIMIT, slice or pagination)",
    nodes=(
        ast.Call,
        ast.For,
        ast.AsyncFor,
        *_COMPREHENSIONS,
        ast.Assign,
        ast.Subscript,
        FunctionEnd,
    ),
    fix="Paginate: slice the queryset (qs[:limit]), use Paginator/.limit(n)/.paginate(), "
    "and cap the page size.",
)
def unbounded_query_in_endpoint(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags HTTP handlers that load every row of a query into memory with no bound: a Django
    queryset (`Model.objects.all()/filter(...)`) that is iterated, `list()`-ed, passed to a
    serializer with `many=True` or into a template context without slicing or a `Paginator`;
    SQLAlchemy `session.query(X)...all()`, `session.scalars(select(X)).all()`,
    `X.query...all()` without `.limit()`/`.paginate()`; `cursor.fetchall()` after a `SELECT`
    without `LIMIT`. Lookups by primary key or by a list of ids are not flagged.

    ## Why it breaks production
    Tables grow; endpoints don't get rewritten. The list endpoint that returned 40 rows at launch
    returns 400,000 a year later: the query scans, the worker builds 400,000 objects and a huge
    JSON body, memory spikes until the container is OOM-killed, and the client times out anyway.
    One large customer (or one scraper) is enough to take the worker down.

    ## Example
    ```python
    @api_view(["GET"])
    def list_orders(request):
        orders = Order.objects.filter(customer=request.user).order_by("-created")
        return Response(OrderSerializer(orders, many=True).data)
    ```

    ## Use instead
    ```python
    @api_view(["GET"])
    def list_orders(request):
        orders = Order.objects.filter(customer=request.user).order_by("-created")
        page = Paginator(orders, per_page=50).get_page(request.GET.get("page"))
        return Response(OrderSerializer(page.object_list, many=True).data)
    ```
    With SQLAlchemy: `select(Order).where(...).limit(limit).offset(offset)` with a capped
    `limit`; with raw SQL: `LIMIT %s OFFSET %s` or keyset pagination.
    """
    if ctx.route is None or ctx.function is None or _skipped_module(ctx):
        return
    state: _UnboundedState = ctx.rule_state(_UnboundedState)
    if isinstance(node, ast.Call):
        _unbounded_call(node, ctx, state)
    elif isinstance(node, ast.For | ast.AsyncFor):
        _add_candidate(node.iter, state, ctx)
    elif isinstance(node, _COMPREHENSIONS):
        _add_candidate(node.generators[0].iter, state, ctx)
    elif isinstance(node, ast.Assign):
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target = node.targets[0].id
            value = node.value
            state.raw.pop(target, None)
            raw = _unbounded_raw(value, ctx)
            if raw is not None:
                state.raw[target] = raw
            chain = _unbounded_django(value)
            if chain is not None and not _per_row_lookup(chain, ctx):
                state.querysets.add(target)
            elif chain is None and _queryset_name(value) == target:
                pass  # qs = qs.filter(...): still the same unbounded queryset
            else:
                state.querysets.discard(target)
    elif isinstance(node, ast.Subscript):
        if isinstance(node.value, ast.Name) and isinstance(node.slice, ast.Slice):
            state.bounded.add(node.value.id)
    else:  # FunctionEnd
        reported: set[str] = set()
        for expr in state.candidates:
            if _unbounded_django(expr) is not None:
                _report_django(expr, ctx)
                continue
            raw = _unbounded_raw(expr, ctx)
            if raw is None and isinstance(expr, ast.Name):
                raw = state.raw.pop(expr.id, None)  # reported once, at the query
            if raw is not None:
                ctx.report(
                    raw,
                    f"{_short(ctx, raw)} loads every row its SQL selects in this request (a "
                    "RawQuerySet is not bounded by slicing): add LIMIT/OFFSET with a capped "
                    "page size to the query",
                )
                continue
            name = _queryset_name(expr)
            if name in state.querysets and name not in state.bounded and name not in reported:
                reported.add(name)
                _report_django(expr, ctx)


def _per_row_lookup(chain: QueryChain, ctx: PythonContext) -> bool:
    """A queryset built in a loop from the loop's row (``for order in orders:
    OrderItem.objects.filter(order=order)``): the children of one row, and an N+1 query that
    DAT001 reports."""
    names: set[str] = set()
    for loop in ctx.loops:
        names |= _loop_names(loop, ctx)
    return bool(names) and bool(_references(list(chain.arguments())) & names)


def _report_django(expr: ast.AST, ctx: PythonContext) -> None:
    ctx.report(
        expr,
        f"{_short(ctx, expr)} loads every matching row in this request: slice it "
        "(qs[:limit]) or paginate (Paginator, DRF pagination) with a capped page size",
    )


def _unbounded_call(node: ast.Call, ctx: PythonContext, state: _UnboundedState) -> None:
    func = node.func
    name = ctx.qualname(func) or ""
    text = dotted(func) or ""
    if "paginat" in text.lower() or "paginat" in name.lower():
        for argument in node.args:
            if isinstance(argument, ast.Name):
                state.bounded.add(argument.id)
        return
    if name in _MATERIALIZERS:
        if node.args:
            _add_candidate(node.args[0], state, ctx)
        return
    if text.endswith("Serializer") and node.args:
        many = keyword_value(node, "many")
        if isinstance(many, ast.Constant) and many.value is True:
            _add_candidate(node.args[0], state, ctx)
        return
    if name in _RENDERERS and len(node.args) >= 3 and isinstance(node.args[2], ast.Dict):
        for value in node.args[2].values:
            _add_candidate(value, state, ctx)
        return
    if not isinstance(func, ast.Attribute):
        return
    if func.attr in {"all", "fetchall"}:
        chain = sqlalchemy_query(node, ctx)
        if chain is not None:
            _check_sqlalchemy_all(node, chain, ctx)
            return
        if func.attr == "fetchall":
            _check_fetchall(node, ctx, state)
    elif func.attr == "execute" and node.args and _is_cursor(func.value, ctx):
        receiver = dotted(func.value)
        if receiver is not None:
            state.cursor_sql[receiver] = _sql_text(node.args[0], ctx)


def _check_sqlalchemy_all(node: ast.Call, chain: QueryChain, ctx: PythonContext) -> None:
    if set(chain.steps) & _BOUNDING_STEPS or any(_unique_filter(c) for c in chain.calls):
        return
    statement = chain.statement
    if statement is not None:
        first = chain.calls[-1].args[0] if chain.calls[-1].args else None
        source = ctx.segment(first) if first is not None else ""
        if isinstance(first, ast.Name):
            value = ctx.value_of(first.id)
            source = ctx.segment(value) if value is not None else ""
            if value is not None and any(
                _unique_filter(c) for c in ast.walk(value) if isinstance(c, ast.Call)
            ):
                return
        elif first is not None and any(
            _unique_filter(c) for c in ast.walk(first) if isinstance(c, ast.Call)
        ):
            return
        if re.search(r"\.(limit|slice|fetch|paginate)\(", source):
            return
    what = f"{chain.model}" if chain.model else "the query"
    ctx.report(
        node,
        f"{_short(ctx, node)} loads every {what} row in this request: add .limit() "
        "(and an offset/cursor) with a capped page size",
    )


def _unbounded_select(sql: str) -> bool:
    """A SELECT that can return any number of rows: no LIMIT/TOP/FETCH FIRST, not a plain
    aggregate, not a lookup by primary key."""
    lowered = " ".join(sql.lower().split())
    if not lowered.lstrip("( ").startswith(("select", "with")):
        return False
    if re.search(r"\b(limit|top|fetch\s+first|fetch\s+next)\b", lowered):
        return False
    if re.search(r"\b(count|sum|avg|min|max)\s*\(", lowered) and "group by" not in lowered:
        return False
    return not re.search(r"\bwhere\b.*\b(id|pk|uuid)\s*=", lowered)


def _unbounded_raw(expr: ast.AST, ctx: PythonContext) -> ast.Call | None:
    """``Model.objects.raw("SELECT ...")`` whose SQL has no LIMIT: iterating the RawQuerySet
    runs it as written (slicing it afterwards still fetches every row)."""
    chain = django_query(expr)
    if chain is None or chain.terminal != "raw" or not chain.calls[0].args:
        return None
    call = chain.calls[0]
    return call if _unbounded_select(_sql_text(call.args[0], ctx)) else None


def _check_fetchall(node: ast.Call, ctx: PythonContext, state: _UnboundedState) -> None:
    func = node.func
    assert isinstance(func, ast.Attribute)
    receiver = func.value
    sql: str | None
    if (
        isinstance(receiver, ast.Call)
        and isinstance(receiver.func, ast.Attribute)
        and receiver.func.attr == "execute"
        and receiver.args
        and _is_cursor(receiver.func.value, ctx)
    ):
        sql = _sql_text(receiver.args[0], ctx)
    else:
        text = dotted(receiver)
        sql = state.cursor_sql.get(text) if text is not None else None
    if not sql or not _unbounded_select(sql):
        return
    ctx.report(
        node,
        "fetchall() loads every row of a SELECT without LIMIT in this request: add "
        "LIMIT/OFFSET (or keyset pagination) with a capped page size",
    )


# -- DAT003 ---------------------------------------------------------------------------------------

_TRANSACTION_CALLS = frozenset({"atomic", "begin", "begin_nested", "transaction", "atomic_tx"})


@dataclass(slots=True)
class _WriteState:
    writes: list[tuple[ast.Call, str]] = field(default_factory=list)
    transactional: bool = False


def _django_write(node: ast.Call, ctx: PythonContext) -> str | None:
    func = node.func
    assert isinstance(func, ast.Attribute)
    chain = django_query(node)
    if chain is not None:
        if chain.terminal in DJANGO_WRITE_METHODS and chain.calls[0] is node:
            return f"{chain.model}.objects...{chain.terminal}()"
        return None
    if func.attr not in {"save", "delete", "asave", "adelete"}:
        return None
    if any(not isinstance(a, ast.Starred) for a in node.args):
        return None  # img.save(path), cache.delete(key): not a model instance
    if is_false(keyword_value(node, "commit")):
        return None  # form.save(commit=False) builds the instance without writing
    receiver = dotted(func.value)
    if receiver is None:
        if not (isinstance(func.value, ast.Call) and dotted(func.value.func) == "super"):
            return None
        receiver = "super()"
    if receiver.split(".")[0] in {"request", "req", "response", "session"}:
        return None
    if not uses_django_orm(ctx):
        return None
    return f"{receiver}.{func.attr}()"


def _transaction_decorated(node: ast.AST) -> bool:
    decorators = getattr(node, "decorator_list", [])
    for decorator in decorators:
        text = ast.unparse(decorator)
        if "atomic" in text or "transaction" in text:
            return True
    return False


def _branch_paths(
    function: ast.FunctionDef | ast.AsyncFunctionDef, wanted: set[int]
) -> dict[int, tuple[tuple[int, str, bool], ...]]:
    """For each wanted node: the branches (if/else, try/except, match cases) it sits in, as
    ``(statement id, branch, branch ends in return/raise)``."""
    found: dict[int, tuple[tuple[int, str, bool], ...]] = {}

    def ends(block: list[ast.stmt]) -> bool:
        return bool(block) and isinstance(block[-1], ast.Return | ast.Raise)

    stack: list[tuple[ast.AST, tuple[tuple[int, str, bool], ...]]] = [
        (statement, ()) for statement in reversed(function.body)
    ]
    while stack:
        node, path = stack.pop()
        if id(node) in wanted:
            found[id(node)] = path
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        items: list[tuple[ast.AST, tuple[tuple[int, str, bool], ...]]] = []
        if isinstance(node, ast.If):
            items.append((node.test, path))
            body = (*path, (id(node), "body", ends(node.body)))
            orelse = (*path, (id(node), "else", ends(node.orelse)))
            items.extend((s, body) for s in node.body)
            items.extend((s, orelse) for s in node.orelse)
        elif isinstance(node, ast.Try | ast.TryStar):
            body = (*path, (id(node), "body", False))
            items.extend((s, body) for s in [*node.body, *node.orelse])
            for index, handler in enumerate(node.handlers):
                branch = (*path, (id(node), f"except{index}", ends(handler.body)))
                items.extend((s, branch) for s in handler.body)
            items.extend((s, path) for s in node.finalbody)
        elif isinstance(node, ast.Match):
            items.append((node.subject, path))
            for index, case in enumerate(node.cases):
                branch = (*path, (id(node), f"case{index}", ends(case.body)))
                items.extend((s, branch) for s in case.body)
        else:
            items.extend((child, path) for child in ast.iter_child_nodes(node))
        stack.extend(reversed(items))
    return found


def _exclusive(
    first: tuple[tuple[int, str, bool], ...], second: tuple[tuple[int, str, bool], ...]
) -> bool:
    """Two writes (``first`` before ``second`` in the source) that never both run."""
    for a, b in zip(first, second, strict=False):
        if a[0] == b[0] and a[1] != b[1]:
            return True
        if a != b:
            break
    return any(entry[2] and entry not in second for entry in first)


@python_rule(
    code="DAT003",
    name="multi-write-without-transaction",
    category=Category.DATA_ACCESS,
    severity=Severity.MEDIUM,
    summary="Several database writes in one function without a transaction",
    calls=tuple(
        f"*.{method}"
        for method in sorted(
            DJANGO_WRITE_METHODS | _TRANSACTION_CALLS | {"commit", "save", "asave", "adelete"}
        )
    ),
    nodes=(ast.With, ast.AsyncWith, FunctionEnd),
    fix="Wrap the writes in one transaction: @transaction.atomic / with transaction.atomic(), "
    "or with session.begin(): ... (one commit at the end).",
)
def multi_write_without_transaction(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags functions that perform two or more database writes that can both run, outside any
    transaction: Django `.save()`, `.delete()`, `Model.objects.create/update/delete/
    bulk_create/...` with no `@transaction.atomic` / `with transaction.atomic()`, and SQLAlchemy
    code that calls `session.commit()` more than once (each commit is its own transaction) with
    no `session.begin()` block. Writes in exclusive branches (`if`/`else`, an early `return`)
    are not counted together. Tests, migrations and scripts are skipped.

    ## Why it breaks production
    In autocommit mode every write commits on its own. When the second write fails -- a
    constraint violation, a deadlock, the pod being killed mid-request, a timeout -- the first
    one stays: the order exists but the stock was never reserved, the money left one account and
    never reached the other. These half-applied states are rare, silent, and found weeks later
    by reconciliation or by a customer.

    ## Example
    ```python
    def place_order(request, cart):
        order = Order.objects.create(customer=request.user, total=cart.total)
        for line in cart.lines:
            OrderLine.objects.create(order=order, product=line.product, qty=line.qty)
        cart.delete()
    ```

    ## Use instead
    ```python
    @transaction.atomic
    def place_order(request, cart):
        order = Order.objects.create(customer=request.user, total=cart.total)
        OrderLine.objects.bulk_create(
            OrderLine(order=order, product=line.product, qty=line.qty) for line in cart.lines
        )
        cart.delete()
    ```
    With SQLAlchemy: `with session.begin(): ...` (or add everything, then one `commit()`; use
    `flush()` when you need generated ids before the end).
    """
    if ctx.function is None or ctx.facts.is_test:
        return
    state: _WriteState = ctx.rule_state(_WriteState)
    if isinstance(node, ast.Call):
        func = node.func
        if not isinstance(func, ast.Attribute) or state.transactional:
            return
        if func.attr in _TRANSACTION_CALLS:
            state.transactional = True  # explicit transaction handling (session.begin())
            return
        if func.attr == "commit":
            if not node.args and is_db_session(func.value, ctx):
                state.writes.append((node, f"{dotted(func.value) or 'session'}.commit()"))
            return
        what = _django_write(node, ctx)
        if what is not None:
            state.writes.append((node, what))
        return
    if isinstance(node, ast.With | ast.AsyncWith):
        for item in node.items:
            expr = item.context_expr
            call = expr.func if isinstance(expr, ast.Call) else expr
            text = dotted(call) or ""
            if text.rsplit(".", 1)[-1] in _TRANSACTION_CALLS:
                state.transactional = True
        return
    # FunctionEnd
    if state.transactional or len(state.writes) < 2 or is_script(ctx):
        return
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    scope: Scope | None = ctx.function
    while scope is not None:
        if _transaction_decorated(scope.node):
            return
        if scope.class_info is not None and _transaction_decorated(scope.class_info.node):
            return
        scope = scope.parent
    writes = sorted(state.writes, key=lambda w: (w[0].lineno, w[0].col_offset))
    paths = _branch_paths(node, {id(call) for call, _ in writes})
    together: list[tuple[ast.Call, str]] = []
    for index, (call, what) in enumerate(writes):
        for other, other_what in writes[index + 1 :]:
            first, second = paths.get(id(call), ()), paths.get(id(other), ())
            if not _exclusive(first, second):
                together = [(call, what), (other, other_what)]
                break
        if together:
            break
    if not together:
        return
    (a, a_what), (b, b_what) = together
    # A helper may be called from inside a caller's transaction; a handler or task is the top.
    top_level = ctx.route is not None or in_task(ctx)
    ctx.report(
        node,
        f"{node.name}() writes to the database {len(writes)} times without a transaction "
        f"({a_what} line {a.lineno}, {b_what} line {b.lineno}): if a later write fails the "
        "earlier ones stay committed. Wrap them in transaction.atomic() / session.begin()",
        confidence=None if top_level else Confidence.MEDIUM,
    )


# -- DAT004 ---------------------------------------------------------------------------------------

_CONNECT_CALLS = frozenset(
    {"psycopg2.connect", "psycopg.connect", "sqlite3.connect", "pymysql.connect"}
    | {"mysql.connector.connect", "MySQLdb.connect"}
)
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
        ctx.report(
            call,
            f"{opened} per request and this handler never closes it: use a connection pool, "
            "or close it in finally / with contextlib.closing()",
        )


# -- DAT007 ---------------------------------------------------------------------------------------

_HELPER_MARK = "returns-connection:"
_CALL_MARK = "unclosed:"


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


def _collect_dat007(node: ast.AST, ctx: PythonContext) -> list[tuple[str, int]] | None:
    """Evidence: module functions that return a new DB-API connection, and handler calls of
    imported functions whose result is used as a connection and never released."""
    if ctx.facts.is_test:
        return None
    if isinstance(node, ast.Module):  # ModuleEnd
        if not any(module.startswith(_DBAPI_MODULES) for module, _ in ctx.facts.imports):
            return None
        found: list[tuple[str, int]] = []
        for name, function in module_functions(ctx).items():
            connects = sorted(factory_calls(function, ctx) & _CONNECT_CALLS)
            if connects:
                found.append((f"{_HELPER_MARK}{name}:{connects[0]}", function.lineno))
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
        (f"{_CALL_MARK}{candidates[id(call)]}", call.lineno)
        for call in _unclosed_openers(node, opens, ctx)
        if _used_as_connection(call, node)
    ]


def _same_function(imported: str, defined: str) -> bool:
    """``app.db.get_db`` (as imported) names ``bad.svc.app.db.get_db`` (as scanned from a
    higher root), and the reverse."""
    return (
        imported == defined or defined.endswith("." + imported) or imported.endswith("." + defined)
    )


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
        module = facts.get("module") or ""
        for name, line in facts.get("evidence", {}).get("DAT007", []):
            if name.startswith(_HELPER_MARK):
                function, connect = name[len(_HELPER_MARK) :].split(":", 1)
                helpers[f"{module}.{function}" if module else function] = (path, line, connect)
    if not helpers:
        return
    for evidence in project.evidence("DAT007"):
        if not evidence.name.startswith(_CALL_MARK):
            continue
        callee = evidence.name[len(_CALL_MARK) :]
        for defined, (path, line, connect) in helpers.items():
            if _same_function(callee, defined):
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


# -- DAT005 ---------------------------------------------------------------------------------------

# Loading strategies that make relations of the loaded rows free to read.
_EAGER_WORDS = (
    "select_related",
    "prefetch_related",
    "selectinload",
    "joinedload",
    "subqueryload",
    "contains_eager",
    "immediateload",
    "raiseload",
    "options(",
    "lazy=",
    "Prefetch(",
)
# Queryset steps that return something other than model instances (dicts, tuples, one row).
_NOT_ROWS = frozenset(
    {"values", "values_list", "get", "first", "last", "count", "exists", "aggregate", "in_bulk"}
    | {"one", "one_or_none", "scalar", "scalar_one", "scalar_one_or_none", "get_one", "dates"}
    | {"datetimes", "earliest", "latest", "mappings", "tuples", "columns"}
)
_RELATION_FACTORIES = frozenset(
    {"ForeignKey", "OneToOneField", "ManyToManyField", "relationship", "Relationship"}
    | {"ParentalKey", "GenericForeignKey", "TreeForeignKey"}
)
# Attribute names that are columns (scalars, JSON, files, money, geometry), not relations.
_COLUMN_NAMES = frozenset(
    {"id", "pk", "uuid", "slug", "date", "time", "created", "updated", "modified", "status"}
    | {"state", "data", "meta", "metadata", "payload", "json", "config", "settings", "extra"}
    | {"details", "attributes", "properties", "options", "file", "image", "photo", "avatar"}
    | {"picture", "thumbnail", "logo", "document", "attachment", "pdf", "price", "amount"}
    | {"total", "cost", "balance", "money", "location", "point", "geom", "geometry", "name"}
    | {"coordinates", "title", "email", "description", "type", "kind", "value", "tags", "url"}
    | {"duration", "interval", "timestamp", "body", "text", "content", "currency", "period"}
    | {"schedule", "range", "span", "labels", "flags", "permissions", "scopes", "objects"}
)
_COLUMN_SUFFIXES = (
    "_at",
    "_on",
    "_date",
    "_time",
    "_id",
    "_ids",
    "_json",
    "_data",
    "_url",
    "_path",
    "_file",
    "_count",
    "_total",
    "_amount",
    "_price",
    "_range",
    "_status",
    "_type",
    "_display",
    "_set",
)
# Attributes of scalar values (dates, numbers, UUIDs, files, enums).
_SCALAR_ATTRIBUTES = frozenset(
    {"year", "month", "day", "hour", "minute", "second", "microsecond", "tzinfo", "days"}
    | {"seconds", "microseconds", "real", "imag", "url", "path", "size", "width", "height"}
    | {"value", "label", "hex", "int", "amount", "currency"}
)


@dataclass(slots=True)
class _LazyState:
    called: set[int] = field(default_factory=set)  # attribute nodes that are called
    sources: dict[int, QueryChain | None] = field(default_factory=dict)  # loop id -> its query
    reported: set[tuple[int, str, str]] = field(default_factory=set)
    eager: bool | None = None  # the function mentions a loading strategy


def _row_query(expr: ast.AST | None, ctx: PythonContext) -> QueryChain | None:
    """The ORM query producing the model instances an iterable holds (following locals)."""
    for _ in range(3):
        if not isinstance(expr, ast.Name):
            break
        expr = ctx.value_of(expr.id)
    if expr is None or isinstance(expr, ast.Name):
        return None
    chain = django_query(expr) or sqlalchemy_query(expr, ctx)
    if chain is None or chain.model is None or set(chain.steps) & _NOT_ROWS:
        return None
    if chain.orm == "sqlalchemy" and chain.statement is not None and "scalars" not in chain.steps:
        return None  # rows of tuples
    text = ctx.segment(expr)
    if chain.statement is not None:
        text += ctx.segment(chain.statement)
    if any(word in text for word in _EAGER_WORDS):
        return None
    return chain


def _loop_source(
    root: str, ctx: PythonContext, state: _LazyState
) -> tuple[ast.AST, QueryChain] | None:
    """The innermost enclosing loop binding ``root`` per row, with the query it iterates."""
    for loop in reversed(ctx.loops):
        iterable: ast.AST | None = None
        if isinstance(loop, ast.For | ast.AsyncFor):
            if isinstance(loop.target, ast.Name) and loop.target.id == root:
                iterable = loop.iter
        elif isinstance(loop, _COMPREHENSIONS):
            for generator in loop.generators:
                if isinstance(generator.target, ast.Name) and generator.target.id == root:
                    iterable = generator.iter
        if iterable is None:
            continue
        key = id(loop)
        if key not in state.sources:
            state.sources[key] = _row_query(iterable, ctx)
        chain = state.sources[key]
        return (loop, chain) if chain is not None else None
    return None


def _module_models(ctx: PythonContext) -> dict[str, tuple[set[str], set[str]]]:
    """Model classes defined in this module: name -> (relation fields, other fields)."""
    cached = ctx.module_state.get("DAT005:models")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    models: dict[str, tuple[set[str], set[str]]] = {}
    for statement in ctx.tree.body:
        if not isinstance(statement, ast.ClassDef):
            continue
        relations: set[str] = set()
        columns: set[str] = set()
        for item in statement.body:
            target: ast.expr | None = None
            if isinstance(item, ast.AnnAssign):
                target = item.target
            elif isinstance(item, ast.Assign) and len(item.targets) == 1:
                target = item.targets[0]
            value = getattr(item, "value", None)
            if not isinstance(target, ast.Name) or not isinstance(value, ast.Call):
                continue
            factory = (dotted(value.func) or "").rsplit(".", 1)[-1]
            (relations if factory in _RELATION_FACTORIES else columns).add(target.id)
        if relations or columns:
            models[statement.name] = (relations, columns)
    ctx.module_state["DAT005:models"] = models
    return models


def _relation_confidence(chain: QueryChain, rel: str, ctx: PythonContext) -> Confidence | None:
    """How sure we are that ``rel`` is a relation of the model (None: it is not one)."""
    model = (chain.model or "").rsplit(".", 1)[-1]
    known = _module_models(ctx).get(model)
    if known is not None:
        relations, _ = known
        return Confidence.MEDIUM if rel in relations else None
    if rel.startswith("_") or rel in _COLUMN_NAMES or rel.endswith(_COLUMN_SUFFIXES):
        return None
    if rel.isupper() or rel.startswith(("is_", "has_", "get_", "num_", "total")):
        return None
    return Confidence.LOW


@python_rule(
    code="DAT005",
    name="lazy-relationship-in-loop",
    category=Category.DATA_ACCESS,
    severity=Severity.MEDIUM,
    confidence=Confidence.LOW,
    summary="Relation of each row read in a loop without select_related/selectinload (N+1)",
    nodes=(ast.Attribute, ast.Call, ast.For, ast.AsyncFor, *_COMPREHENSIONS),
    fix="Load the relation with the rows: select_related() (foreign keys) / prefetch_related() "
    "in Django, selectinload()/joinedload() in SQLAlchemy.",
)
def lazy_relationship_in_loop(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a relation of each row read inside a loop over a Django queryset or a SQLAlchemy
    query/`scalars()` result that was built without `select_related`/`prefetch_related`
    (Django) or `selectinload`/`joinedload`/`subqueryload` (SQLAlchemy): `order.customer.name`,
    `ticket.assignee.email`, and, with SQLAlchemy, `for item in order.items`. A relation is told
    from a column by the model when it is defined in the same module, else by the access shape
    (`row.relation.attribute`, not a date, file, JSON or money column) -- hence the low
    confidence. Related-manager queries (`order.items.all()`) are DAT001.

    ## Why it breaks production
    Each first access to a lazy relation runs its own `SELECT`: a page of 500 orders makes 501
    queries. With ten rows in development nobody notices; in production the endpoint's latency
    grows with the data, the connection pool is held for the whole loop and the database
    spends its CPU on thousands of identical tiny queries. Under `AsyncSession` the lazy load
    does not even run: it raises `MissingGreenlet`.

    ## Example
    ```python
    orders = Order.objects.filter(status="paid")
    rows = [{"id": o.id, "customer": o.customer.name} for o in orders]
    ```

    ## Use instead
    ```python
    orders = Order.objects.filter(status="paid").select_related("customer")
    rows = [{"id": o.id, "customer": o.customer.name} for o in orders]
    ```
    SQLAlchemy: `select(Order).options(selectinload(Order.items), joinedload(Order.customer))`.
    """
    if ctx.function is None or (not ctx.loops and not isinstance(node, _LOOP_NODES)):
        return
    if _skipped_module(ctx):
        return
    state: _LazyState = ctx.rule_state(_LazyState)
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute):
            state.called.add(id(node.func))
        return
    if isinstance(node, ast.Attribute):
        inner = node.value
        if (
            id(node) in state.called
            or not isinstance(node.ctx, ast.Load)
            or not isinstance(inner, ast.Attribute)
            or not isinstance(inner.value, ast.Name)
            or node.attr in _SCALAR_ATTRIBUTES
            or node.attr.startswith("_")
        ):
            return
        _lazy_access(node, inner.value.id, inner.attr, ctx, state)
        return
    # A loop over a relation of the row of an enclosing loop: ``for item in order.items``.
    if isinstance(node, ast.For | ast.AsyncFor):
        iterables = [node.iter]
    else:
        assert isinstance(node, _COMPREHENSIONS)
        iterables = [generator.iter for generator in node.generators]
    for iterable in iterables:
        if isinstance(iterable, ast.Attribute) and isinstance(iterable.value, ast.Name):
            _lazy_access(iterable, iterable.value.id, iterable.attr, ctx, state, loop=True)


_LOOP_NODES = (ast.For, ast.AsyncFor, *_COMPREHENSIONS)


def _lazy_access(
    node: ast.Attribute,
    root: str,
    rel: str,
    ctx: PythonContext,
    state: _LazyState,
    *,
    loop: bool = False,
) -> None:
    found = _loop_source(root, ctx, state)
    if found is None:
        return
    source_loop, chain = found
    if loop and chain.orm != "sqlalchemy":
        return  # a Django relation is iterated through its manager (.all(): DAT001)
    key = (id(source_loop), root, rel)
    if key in state.reported:
        return
    confidence = _relation_confidence(chain, rel, ctx)
    if confidence is None:
        return
    if loop and not rel.endswith("s"):
        return  # iterating a scalar relation makes no sense; likely a column
    if state.eager is None:
        scope = ctx.function
        assert scope is not None
        lines = ctx.lines[scope.node.lineno - 1 : scope.node.end_lineno]
        state.eager = any(word in line for line in lines for word in _EAGER_WORDS)
    if state.eager or "lazy=" in ctx.source or is_script(ctx):
        return  # one-off scripts and demos: the round trips cost nobody a request
    state.reported.add(key)
    line_key = (id(source_loop), "", str(node.lineno))
    if line_key in state.reported:
        return  # one finding per line: its first relation
    state.reported.add(line_key)
    if chain.orm == "django":
        advice = f'add .select_related("{rel}") (or prefetch_related) to the queryset'
    else:
        advice = f"load it with .options(selectinload({chain.model}.{rel})) or joinedload()"
    ctx.report(
        node,
        f"{root}.{rel} is loaded lazily with its own query on every iteration of the loop "
        f"over {chain.model} rows (N+1): {advice}",
        confidence=confidence,
    )


# -- DAT006 ---------------------------------------------------------------------------------------

# Query terminals that yield model instances.
_INSTANCE_STEPS = frozenset(
    {"get", "first", "last", "earliest", "latest", "aget", "afirst", "alast", "one"}
    | {"one_or_none", "scalar_one", "scalar_one_or_none", "scalar", "get_one", "all"}
    | {"get_or_404", "first_or_404", "one_or_404", "create", "acreate"}
)
_JSON_RESPONSES = frozenset(
    {"flask.jsonify", "quart.jsonify", "django.http.JsonResponse"}
    | {"django.http.response.JsonResponse", "fastapi.responses.JSONResponse"}
    | {"starlette.responses.JSONResponse", "fastapi.encoders.jsonable_encoder"}
)
_MODEL_DUMPS = frozenset({"django.forms.models.model_to_dict", "django.forms.model_to_dict"})


def _orm_instances(expr: ast.AST | None, ctx: PythonContext, depth: int = 0) -> str | None:
    """The model whose instances ``expr`` holds (a query result, following locals), or None."""
    if expr is None or depth > 3:
        return None
    if isinstance(expr, ast.Await):
        expr = expr.value
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        return _orm_instances(value, ctx, depth + 1) if value is not expr else None
    if isinstance(expr, ast.Call) and ctx.qualname(expr.func) in _MATERIALIZERS and expr.args:
        inner = django_query(expr.args[0]) if not isinstance(expr.args[0], ast.Name) else None
        if inner is None and isinstance(expr.args[0], ast.Name):
            value = ctx.value_of(expr.args[0].id)
            inner = django_query(value) if value is not None else None
        if inner is not None and inner.model and not set(inner.steps) & _NOT_ROWS:
            return inner.model
        return None
    if not isinstance(expr, ast.Call):
        return None
    chain = django_query(expr) or sqlalchemy_query(expr, ctx)
    if chain is None or chain.model is None or chain.terminal not in _INSTANCE_STEPS:
        return None
    if {"values", "values_list", "mappings", "tuples", "columns"} & set(chain.steps):
        return None
    if chain.statement is not None and not any(s.startswith("scalar") for s in chain.steps):
        return None  # Row tuples
    return chain.model


def _leaked_model(expr: ast.AST | None, ctx: PythonContext) -> tuple[str, str] | None:
    """(model, how) when ``expr`` serialises every column of ORM instances."""
    if expr is None:
        return None
    if isinstance(expr, ast.Attribute) and expr.attr == "__dict__":
        model = _orm_instances(expr.value, ctx)
        return (model, "__dict__") if model else None
    if isinstance(expr, ast.DictComp) and expr.generators:
        iterable = expr.generators[0].iter
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute):
            return _leaked_model(iterable.func.value, ctx)
        return None
    if isinstance(expr, ast.Call):
        name = ctx.qualname(expr.func) or ""
        if name == "builtins.vars" and len(expr.args) == 1:
            model = _orm_instances(expr.args[0], ctx)
            return (model, "vars()") if model else None
        if name in _MODEL_DUMPS and expr.args and not has_keyword(expr, "fields", "exclude"):
            model = _orm_instances(expr.args[0], ctx)
            return (model, "model_to_dict()") if model else None
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if value is not None and value is not expr and not isinstance(value, ast.Name):
            return _leaked_model(value, ctx)
    return None


def _fastapi_response_declared(scope: Scope, ctx: PythonContext) -> bool:
    """The FastAPI route declares what it returns: response_model=, response_class= or a
    return annotation (which FastAPI uses as the response model)."""
    if scope.node.returns is not None:
        return True
    for decorator in scope.node.decorator_list:
        if not isinstance(decorator, ast.Call):
            continue
        if any(
            k.arg in {"response_model", "response_class"} or k.arg is None
            for k in decorator.keywords
        ):
            return True
    return False


@python_rule(
    code="DAT006",
    name="orm-object-returned-from-endpoint",
    category=Category.DATA_ACCESS,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Endpoint returns ORM objects as they are: every column leaks into the response",
    nodes=(ast.Return,),
    calls=(*sorted(_JSON_RESPONSES), "*.add"),
    fix="Return a response schema: response_model=UserOut (FastAPI), a serializer or an "
    "explicit dict of the fields the client may see.",
)
def orm_object_returned_from_endpoint(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags HTTP handlers that serialise ORM instances wholesale: a FastAPI route without
    `response_model=`/`response_class=` and without a return annotation that returns a
    SQLAlchemy or Django instance or a list of them (`session.get(User, id)`,
    `db.query(User).first()`, `session.scalars(select(User)).all()`,
    `User.objects.get(...)`); and any handler that returns or `jsonify()`s an instance's
    `__dict__`, `vars(instance)` or `model_to_dict(instance)` without `fields=`.

    ## Why it breaks production
    Whatever the table holds goes to the client: password hashes, reset tokens, internal
    flags, soft-delete markers, other tenants' ids. Every column added later -- by a migration
    nobody connects to the API -- is published the day it ships. The API contract becomes the
    database schema, so a harmless rename breaks the clients, and the response is
    undocumented in OpenAPI.

    ## Example
    ```python
    @app.get("/users/{user_id}")
    def get_user(user_id: int, db: Session = Depends(get_db)):
        return db.get(User, user_id)
    ```

    ## Use instead
    ```python
    class UserOut(BaseModel):
        model_config = ConfigDict(from_attributes=True)
        id: int
        email: str
        display_name: str

    @app.get("/users/{user_id}", response_model=UserOut)
    def get_user(user_id: int, db: Session = Depends(get_db)):
        return db.get(User, user_id)
    ```
    """
    scope = ctx.function
    if scope is None or scope.route is None or ctx.facts.is_test:
        return
    added: dict[str, str] = ctx.rule_state(dict)  # name -> model, for session.add(name)
    if isinstance(node, ast.Call) and ctx.call_name not in _JSON_RESPONSES:
        _record_added(node, ctx, added)
        return
    if isinstance(node, ast.Call):
        payload = node.args[0] if node.args else keyword_value(node, "content")
        leaked = _leaked_model(payload, ctx)
        if leaked is not None:
            _report_leak(node, leaked[0], leaked[1], ctx)
        return
    assert isinstance(node, ast.Return)
    value = node.value
    if value is None:
        return
    if isinstance(value, ast.Tuple) and value.elts:
        value = value.elts[0]  # Flask: return body, status
    leaked = _leaked_model(value, ctx)
    if leaked is not None:
        _report_leak(node, leaked[0], leaked[1], ctx)
        return
    if scope.route.framework != "fastapi" or _fastapi_response_declared(scope, ctx):
        return
    candidates = [value]
    if isinstance(value, ast.Dict):
        candidates = [v for v in value.values if v is not None]
    for candidate in candidates:
        model = _orm_instances(candidate, ctx)
        if model is None and isinstance(candidate, ast.Name):
            model = added.get(candidate.id)
        if model is not None:
            ctx.report(
                node,
                f"the route returns {model} ORM objects without response_model=: FastAPI "
                "serialises every column (password hashes, internal flags) and the API "
                "contract becomes the table schema. Declare response_model= with an output "
                "schema",
            )
            return


def _report_leak(node: ast.AST, model: str, how: str, ctx: PythonContext) -> None:
    ctx.report(
        node,
        f"{how} of a {model} instance is sent to the client: every column (password hashes, "
        "tokens, internal flags) leaks, including ones added later. Serialise an explicit "
        "list of fields or an output schema",
    )


def _record_added(node: ast.Call, ctx: PythonContext, added: dict[str, str]) -> None:
    """``session.add(user)`` where ``user = User(...)``: ``user`` is a new ORM instance."""
    func = node.func
    if not isinstance(func, ast.Attribute) or len(node.args) != 1 or node.keywords:
        return
    instance = node.args[0]
    if not isinstance(instance, ast.Name) or not is_db_session(func.value, ctx):
        return
    value = ctx.value_of(instance.id)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name | ast.Attribute):
        model = dotted(value.func)
        if model is not None and model.rsplit(".", 1)[-1][:1].isupper():
            added[instance.id] = model
