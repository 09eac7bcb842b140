"""Performance: queries repeated per loop iteration, the N+1 pattern (PRF017, formerly DAT001)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    DJANGO_FETCH_METHODS,
    DJANGO_LAZY_METHODS,
    DJANGO_WRITE_METHODS,
    QueryChain,
    django_query,
    in_service_code,
    in_task,
    method_chain,
    sqlalchemy_query,
    uses_django_orm,
)
from prodready.rules.data_access._shared import (
    _BATCH_LOOKUPS,
    _COMPREHENSIONS,
    _dbapi_query,
    _loop_names,
    _references,
    _short,
    _skipped_module,
    _target_names,
)
from prodready.rules.performance._loop_evidence import _report_by_evidence, _writes_rows
from prodready.rules.performance._not_per_row import (
    _alternative_reported,
    _locked_in_own_transaction,
    _pages_through,
    _refreshes_under_lock,
    _subquery_argument,
    _under_key_change_guard,
    _upserted_per_item,
)
from prodready.rules.performance._query_builders import _builds_without_running

# -- PRF017 (formerly DAT001) --------------------------------------------------------------------


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
    code="PRF017",
    name="query-in-loop",
    category=Category.PERFORMANCE,
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
    row no other worker holds, a queryset passed unevaluated to an `__in=` lookup (a
    subquery of the outer query), a queryset kept in a local only ever refined into a subquery
    (`Exists(hooks.filter(...))`) or written in bulk (`hooks.delete()`), and the next slice of
    rows after a cursor a `while` loop moves on (keyset pagination: one query per batch).
    Nor are a row of the loop re-read by its own key under `select_for_update()` and kept
    (`gc = GiftCard.objects.select_for_update().get(pk=gc.pk)`:
    a lock-and-refresh inside a transaction, which no prefetch replaces), a row locked under a
    transaction the loop opens for each item (`with transaction.atomic():` in the loop body:
    the lock ends with that item's transaction), or a lookup under
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
    And so is the lookup of an upsert per item (`row = <lookup>; if row is None: <insert>`
    with a branch updating the row found): every item costs its write anyway, and the remedy
    is one bulk upsert, not a prefetch. Only inserting what is missing stays at the rule's
    severity. A loop in a background task that takes no arguments (`@shared_task def
    sweep():`, `self` of a bound task aside) is low too: nothing enqueues it with data, a
    schedule starts it, and its queries cost no user any latency -- how often it runs is not
    in the code. A task handed what to work on keeps the rule's severity.

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
        if _locked_in_own_transaction(chain, ctx) or _pages_through(chain, ctx):
            return
        if _subquery_argument(node, ctx) or _under_key_change_guard(node, ctx):
            return
        if _alternative_reported(node, ctx, state.alternatives):
            return
        if _upserted_per_item(chain.node, ctx, _writes_rows):
            ctx.report(
                node,
                f"{_short(ctx, node)} runs one query per loop iteration to find the row the "
                "loop then inserts when it is missing (an upsert per item): every item costs "
                "its write anyway, so prefetching the lookups would not remove the round "
                "trips; to make them one, upsert in bulk (bulk_create(update_conflicts=True), "
                "INSERT ... ON CONFLICT DO UPDATE)",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )
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
