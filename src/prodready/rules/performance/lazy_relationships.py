"""Performance: relations of each row loaded lazily inside a loop, the N+1 pattern (PRF019,
formerly DAT005)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from prodready.plugin import Category, Confidence, ModuleMemo, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    QueryChain,
    declared_fields,
    django_query,
    dotted,
    is_script,
    sqlalchemy_query,
)
from prodready.rules.data_access._shared import _COMPREHENSIONS, _NOT_ROWS, _skipped_module
from prodready.rules.performance._not_per_row import _alternative_reported

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
        for name, call in declared_fields(statement):
            factory = (dotted(call.func) or "").rsplit(".", 1)[-1]
            (relations if factory in _RELATION_FACTORIES else columns).add(name)
        if relations or columns:
            models[statement.name] = (relations, columns)
    return models


_MODELS: ModuleMemo[ModelFields] = ModuleMemo("PRF019:models", _models_defined)


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
    code="PRF019",
    name="lazy-relationship-in-loop",
    category=Category.PERFORMANCE,
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
    confidence. A SQLAlchemy model can load a relationship with its rows itself (a selectin,
    joined or subquery loader declared on `relationship()`): when the model is defined in
    another module, the loader is not seen and the finding is low (confidence low), saying
    so; Django has no such model-level switch and keeps the rule's severity. Related-manager queries
    (`order.items.all()`) are PRF017 (query-in-loop). The
    two branches of `a if test else b` never both run: one finding for the relations of both.

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
        return  # a Django relation is iterated through its manager (.all(): PRF017)
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
    model = (chain.model or "").rsplit(".", 1)[-1]
    if chain.orm == "sqlalchemy" and model not in _module_models(ctx):
        # SQLAlchemy lets the model load a relationship with its rows (a selectin, joined or
        # subquery loader on relationship()): defined in another module, that is not seen.
        ctx.report(
            node,
            f"{root}.{rel} may be loaded lazily with its own query on every iteration of the "
            f"loop over {chain.model} rows, but {chain.model} is defined in another module and "
            "the scan could not see whether its relationship() loads with the rows (a selectin, "
            "joined or subquery loader costs no query per row); if it is lazy, this is an N+1 "
            f"-- {advice}",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    ctx.report(
        node,
        f"{root}.{rel} is loaded lazily with its own query on every iteration of the loop "
        f"over {chain.model} rows (N+1): {advice}",
        confidence=confidence,
    )
