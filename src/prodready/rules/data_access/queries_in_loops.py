"""Data access: queries and lazy loads repeated per loop iteration (DAT001, DAT005)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from prodready.plugin import Category, Confidence, ModuleMemo, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    DJANGO_FETCH_METHODS,
    DJANGO_LAZY_METHODS,
    DJANGO_WRITE_METHODS,
    QueryChain,
    django_query,
    dotted,
    in_service_code,
    in_task,
    is_script,
    method_chain,
    sqlalchemy_query,
    uses_django_orm,
)
from prodready.rules.data_access._loop_evidence import _report_by_evidence
from prodready.rules.data_access._not_per_row import (
    _alternative_reported,
    _refreshes_under_lock,
    _subquery_argument,
    _under_key_change_guard,
)
from prodready.rules.data_access._query_builders import _builds_without_running
from prodready.rules.data_access._shared import (
    _BATCH_LOOKUPS,
    _COMPREHENSIONS,
    _NOT_ROWS,
    _dbapi_query,
    _loop_names,
    _references,
    _short,
    _skipped_module,
    _target_names,
)

# -- DAT001 ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _LoopState:
    seen: set[int] = field(default_factory=set)  # inner calls of chains already judged
    derived: dict[str, ast.AST] = field(default_factory=dict)  # name -> loop it derives from
    targets: dict[int, set[str]] = field(default_factory=dict)  # loop id -> its row variables
    alternatives: set[int] = field(default_factory=set)  # ``a if c else b`` already reported


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


def _loops_of(names: set[str], variables: dict[str, ast.AST]) -> list[ast.AST]:
    """The loops binding ``names``, outermost first, each once."""
    loops: dict[int, ast.AST] = {}
    for name in sorted(names):
        loop = variables[name]
        loops[id(loop)] = loop
    return list(loops.values())


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
    `UPDATE` or `DELETE`. Queries built in the loop but run once after it are not: Django
    querysets correlated with `OuterRef` (usable only inside `Exists()`/`Subquery()`),
    SQLAlchemy queries turned into `.subquery()`/`.exists()`/`.cte()`, SQLAlchemy bulk
    `.update()`/`.delete()` writes, `select_for_update(skip_locked=True)` probes for a
    row no other worker holds, and a queryset passed unevaluated to an `__in=` lookup (a
    subquery of the outer query). Nor are a row of the loop re-read by its own key under
    `select_for_update()` and kept (`gc = GiftCard.objects.select_for_update().get(pk=gc.pk)`:
    a lock-and-refresh inside a transaction, which no prefetch replaces), or a lookup under
    `if row.key != current_key:` whose body remembers the key (it runs once per group of
    consecutive rows sharing the key, not once per row). The two branches of
    `a if test else b` never both run: one finding for the queries of both.

    Evidence tier: the rule reports at medium when the loop's iteration count grows with the
    data -- it iterates database rows (a queryset, a query result, a related manager, a mix of
    them), what the HTTP request sends (its body, query string or session, a route's list
    parameter), or a sequence the function receives and stores row by row (a batch being
    ingested). When the size of what the loop iterates is not visible (a parameter only read,
    a mapping's entries, an object's attribute, a list read from a configuration file) or is
    bounded (one slice or page), it reports at low with confidence low and says so. A query per
    parent whose rows the loop then processes one by one, each with database work of its own
    (a per-parent batch, also through the ids or querysets computed from those rows), is low
    too: the query per parent is not what grows. So is a query in a loop whose every iteration
    also opens a file or calls another system (`open()`, `pikepdf.open`, `requests.post`,
    `subprocess`): that work, not one indexed query, is what the loop spends its time on.

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
        used = _references(_chain_arguments(chain)) & variables.keys()
        if not used:
            return
        if _builds_without_running(chain, ctx) or _refreshes_under_lock(chain, ctx, variables):
            return
        if _subquery_argument(node, ctx) or _under_key_change_guard(node, ctx):
            return
        if _alternative_reported(node, ctx, state.alternatives):
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
        _report_by_evidence(
            node,
            ctx,
            _loops_of(used, variables),
            f"{_short(ctx, node)} runs one query per loop iteration (N+1)",
            advice,
        )
        return
    if _related_manager_query(node, ctx, variables, state):
        if _subquery_argument(node, ctx) or _under_key_change_guard(node, ctx):
            return
        if _alternative_reported(node, ctx, state.alternatives):
            return
        base, _ = method_chain(node)
        assert isinstance(base, ast.Name)
        _report_by_evidence(
            node,
            ctx,
            [variables[base.id]],
            f"{_short(ctx, node)} queries the database once per row (N+1)",
            "add prefetch_related() to the queryset the loop iterates",
            confidence=Confidence.MEDIUM,
        )
        return
    used = _dbapi_query(node, ctx, variables)
    if used and (ctx.route is not None or in_task(ctx) or in_service_code(ctx)):
        _report_by_evidence(
            node,
            ctx,
            _loops_of(used, variables),
            "SQL executed once per loop iteration with the loop's values (N+1)",
            "run one query with WHERE id IN (...)/= ANY(%s), or executemany() for writes",
        )


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
    alternatives: set[int] = field(default_factory=set)  # ``a if c else b`` already reported


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


ModelFields = dict[str, tuple[set[str], set[str]]]


def _module_models(ctx: PythonContext) -> ModelFields:
    """Model classes defined in this module: name -> (relation fields, other fields)."""
    return ctx.memo(_MODELS)


def _models_defined(ctx: PythonContext) -> ModelFields:
    models: ModelFields = {}
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
    return models


_MODELS: ModuleMemo[ModelFields] = ModuleMemo("DAT005:models", _models_defined)


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
    confidence. Related-manager queries (`order.items.all()`) are DAT001. The two branches of
    `a if test else b` never both run: one finding for the relations of both.

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
    if _alternative_reported(node, ctx, state.alternatives):
        return  # the other branch of ``a if test else b`` is reported: they never both run
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
