"""Performance: endpoints that read whole tables (PRF018, formerly DAT002)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from prodready.plugin import Category, Confidence, FunctionEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    DJANGO_LAZY_METHODS,
    QueryChain,
    django_query,
    dotted,
    keyword_value,
    method_chain,
    parameter_names,
    sqlalchemy_query,
)
from prodready.rules.api_contract._shared import _admin_only_route
from prodready.rules.data_access._shared import (
    _COMPREHENSIONS,
    _MATERIALIZERS,
    _is_cursor,
    _loop_names,
    _references,
    _short,
    _skipped_module,
    _sql_text,
)
from prodready.rules.performance._drf_lists import unpaginated_list_view

# -- PRF018 (formerly DAT002) --------------------------------------------------------------------

_UNIQUE_LOOKUPS = frozenset({"pk", "id", "uuid", "slug", "pk__exact", "id__exact"})
_BOUNDING_STEPS = frozenset(
    {"limit", "paginate", "first", "one", "one_or_none", "scalar", "slice", "get", "[]"}
    | {"fetch", "first_or_404", "get_or_404", "one_or_404", "scalar_one", "scalar_one_or_none"}
)
_RENDERERS = ("django.shortcuts.render", "django.template.response.TemplateResponse")


@dataclass(slots=True)
class _UnboundedState:
    candidates: list[ast.AST] = field(default_factory=list)  # materialized expressions
    querysets: set[str] = field(default_factory=set)
    bounded: set[str] = field(default_factory=set)
    cursor_sql: dict[str, str] = field(default_factory=dict)
    raw: dict[str, ast.Call] = field(default_factory=dict)  # name -> its unbounded raw() query
    scopes: dict[str, str] = field(default_factory=dict)  # queryset name -> its parent filter


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
    code="PRF018",
    name="unbounded-query-in-endpoint",
    category=Category.PERFORMANCE,
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
        ast.ClassDef,
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
    without `LIMIT`. Lookups by primary key or by a list of ids are not flagged. A Django REST
    framework list view (`ModelViewSet`, `ListAPIView`...) that sets `pagination_class = None`
    is flagged at that line: its inherited `list()` serializes every row.

    Evidence tier: a Django queryset over the whole table, filtered by column values, or by
    the requesting account (`request.user`, `current_user`: its rows accumulate with every use
    of the service) is reported at medium. One filtered to the rows of one parent object
    (`filter(project=project)`, `filter(owner=check)`) is reported at low with confidence low:
    whether one parent's children grow without bound (a project's checks capped by a plan, the
    refresh tokens of one access token) is a fact of the domain the code does not show.
    The same holds for SQLAlchemy: `where(Model.owner_id == user.id)` (a foreign-key column or
    a loaded object's key compared for equality; not the key of an object the handler is
    handed as a parameter, often the requesting account) is low, and so is the DISTINCT of one
    column (`select(Log.kind).distinct()`): its rows are the column's values, whose number the
    code does not show either. A route only administrators reach (a guard decorator or
    dependency named for them: `@admins_only`, `@staff_member_required`, DRF `IsAdminUser`)
    is reported at low too: its load comes at the operator's pace, and whether the table (a
    settings table, rows the operators write, every row a reset form deletes) grows large
    enough to hurt is not in the code.

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
    if isinstance(node, ast.ClassDef):
        _unpaginated_view(node, ctx)
        return
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
                state.scopes.pop(target, None)
                scope = _parent_scope(chain.calls, ctx)
                if scope is not None:
                    state.scopes[target] = scope
            elif chain is None and _queryset_name(value) == target:
                # qs = qs.filter(...): still the same unbounded queryset, maybe narrower
                scope = _parent_scope(_chain_calls(value), ctx)
                if scope is not None:
                    state.scopes.setdefault(target, scope)
            else:
                state.querysets.discard(target)
                state.scopes.pop(target, None)
    elif isinstance(node, ast.Subscript):
        if isinstance(node.value, ast.Name) and isinstance(node.slice, ast.Slice):
            state.bounded.add(node.value.id)
    else:  # FunctionEnd
        reported: set[str] = set()
        for expr in state.candidates:
            chain = _unbounded_django(expr)
            if chain is not None:
                _report_django(expr, ctx, _parent_scope(chain.calls, ctx))
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
                scope = _parent_scope(_chain_calls(expr), ctx) or state.scopes.get(name)
                _report_django(expr, ctx, scope)


def _unpaginated_view(node: ast.ClassDef, ctx: PythonContext) -> None:
    if ctx.function is not None or ctx.facts.is_test or _skipped_module(ctx):
        return
    found = unpaginated_list_view(node, ctx)
    if found is not None:
        # At the line that switches pagination off: where the fix goes.
        unpaginated, queryset = found
        ctx.report(
            unpaginated.targets[0] if isinstance(unpaginated, ast.Assign) else unpaginated,
            f"{node.name} lists {_short(ctx, queryset)} with pagination_class = None: its "
            "list() serializes every row into one response. Set a paginator with a capped "
            "page size (PageNumberPagination/CursorPagination, max_page_size)",
        )


def _per_row_lookup(chain: QueryChain, ctx: PythonContext) -> bool:
    """A queryset built in a loop from the loop's row (``for order in orders:
    OrderItem.objects.filter(order=order)``): the children of one row, and an N+1 query that
    PRF017 reports."""
    names: set[str] = set()
    for loop in ctx.loops:
        names |= _loop_names(loop, ctx)
    return bool(names) and bool(_references(list(chain.arguments())) & names)


def _report_django(expr: ast.AST, ctx: PythonContext, scope: str | None = None) -> None:
    if scope is not None:
        ctx.report(
            expr,
            f"{_short(ctx, expr)} loads every row with {scope} in this request; could not tell "
            "whether the rows of one such parent grow without bound (a parent's children are "
            "often few by design): if they can, slice it (qs[:limit]) or paginate with a "
            "capped page size",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    _report_whole(
        expr,
        ctx,
        f"{_short(ctx, expr)} loads every matching row in this request",
        "slice it (qs[:limit]) or paginate (Paginator, DRF pagination) with a capped page size",
    )


def _report_whole(node: ast.AST, ctx: PythonContext, what: str, fix: str) -> None:
    """Report a load of every row: at the rule's severity, or at low when the route admits
    administrators only -- its load comes at the operator's pace, not the public's, and
    whether the table (settings, rows the operators write, a "reset everything" form's
    rows) grows large enough to hurt is a fact of the domain the code does not show."""
    guard = _admin_only_route(ctx)
    if guard is None:
        ctx.report(node, f"{what}: {fix}")
        return
    ctx.report(
        node,
        f"{what}, in a route only administrators reach ({guard}); could not tell whether the "
        f"table grows large enough to hurt an operator's page: if it can, {fix}",
        severity=Severity.LOW,
        confidence=Confidence.LOW,
    )


# Lookups that compare or match rather than select the rows of one value.
_COMPARING_LOOKUPS = frozenset(
    {"gt", "gte", "lt", "lte", "contains", "icontains", "startswith", "istartswith", "isnull"}
    | {"endswith", "iendswith", "range", "in", "regex", "iregex", "year", "month", "day"}
    | {"date", "week", "week_day", "quarter", "time", "hour", "minute", "second", "search"}
    | {"overlap", "has_key", "has_keys", "has_any_keys", "contained_by"}
)


def _chain_calls(expr: ast.AST) -> list[ast.Call]:
    return [step for _, step in method_chain(expr)[1] if isinstance(step, ast.Call)]


def _requester(value: ast.AST) -> bool:
    """The account making the request (``request.user``, ``current_user``): its own rows
    accumulate with every use of the service."""
    text = dotted(value) or ""
    for suffix in (".id", ".pk"):
        text = text.removesuffix(suffix)
    return text.endswith("request.user") or text.split(".")[-1] == "current_user"


def _parent_scope(calls: Iterable[ast.Call], ctx: PythonContext) -> str | None:
    """``field=obj`` of a ``filter()`` selecting the rows of one parent object other than the
    requesting account (``project=project``, ``owner=check``, ``task__project_id=pid``): the
    text of the first, or None. Constants, comparisons and values computed from the request's
    data (``status=request.GET["s"]``) are column filters, not a parent."""
    for call in calls:
        if not isinstance(call.func, ast.Attribute) or call.func.attr != "filter":
            continue
        for item in call.keywords:
            if item.arg is None or item.arg.split("__")[-1] in _COMPARING_LOOKUPS:
                continue
            value = item.value
            if not isinstance(value, ast.Name | ast.Attribute) or _requester(value):
                continue
            last = value.id if isinstance(value, ast.Name) else value.attr
            if last.isupper() or last in {"True", "False", "None"}:
                continue  # Status.OPEN: a constant
            return f"{item.arg}={_short(ctx, value, 30)}"
    return None


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
    calls = [*chain.calls, *_statement_calls(chain.calls[-1].args[:1], ctx)]
    column = _distinct_column(calls, ctx)
    scope = _sqlalchemy_parent_scope(calls, ctx)
    if column is not None or scope is not None:
        rows = f"every distinct value of {column}" if column else f"every {what} row with {scope}"
        ctx.report(
            node,
            f"{_short(ctx, node)} loads {rows} in this request; could not tell whether "
            + (
                "the column's values grow without bound (a kind or status column has few)"
                if column
                else "the rows of one such parent grow without bound (a parent's children "
                "are often few by design)"
            )
            + ": if they can, add .limit() (and an offset/cursor) with a capped page size",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    _report_whole(
        node,
        ctx,
        f"{_short(ctx, node)} loads every {what} row in this request",
        "add .limit() (and an offset/cursor) with a capped page size",
    )


def _statement_calls(
    exprs: Iterable[ast.AST], ctx: PythonContext, depth: int = 0
) -> list[ast.Call]:
    """The calls building a SQLAlchemy statement (``select(X).where(...)``), through the locals
    it was assigned to and refined in (``stmt = stmt.where(...)``)."""
    calls: list[ast.Call] = []
    for expr in exprs:
        if isinstance(expr, ast.Await):
            expr = expr.value
        base, steps = method_chain(expr)
        calls += [step for _, step in steps if isinstance(step, ast.Call)]
        if isinstance(base, ast.Call):
            calls.append(base)
        elif isinstance(base, ast.Name) and depth < 4:
            value = ctx.value_of(base.id)
            if value is not None and value is not expr:
                calls += _statement_calls([value], ctx, depth + 1)
    return calls


def _distinct_column(calls: list[ast.Call], ctx: PythonContext) -> str | None:
    """``select(Log.kind).distinct()``: the distinct values of one column (its text), whose
    number is the size of the column's domain, not of the table."""
    if not any(isinstance(c.func, ast.Attribute) and c.func.attr == "distinct" for c in calls):
        return None
    for call in calls:
        if (ctx.qualname(call.func) or "").rsplit(".", 1)[-1] != "select":
            continue
        if len(call.args) == 1 and not call.keywords:
            column = call.args[0]
            if isinstance(column, ast.Attribute) and not column.attr[:1].isupper():
                return _short(ctx, column, 40)
    return None


def _sqlalchemy_parent_scope(calls: list[ast.Call], ctx: PythonContext) -> str | None:
    """``where(Model.owner_id == user.id)`` / ``filter(Model.project_id == project_id)``: the
    rows of one parent object other than the requesting account (the text of the first
    comparison, or None). Only a key compared for equality counts: a foreign-key column
    (``..._id``) or a loaded object's own key (``obj.id``)."""
    for call in calls:
        if not isinstance(call.func, ast.Attribute) or call.func.attr not in {"where", "filter"}:
            continue
        for argument in call.args:
            if not (
                isinstance(argument, ast.Compare)
                and len(argument.ops) == 1
                and isinstance(argument.ops[0], ast.Eq)
                and isinstance(argument.left, ast.Attribute)
            ):
                continue
            value = argument.comparators[0]
            if not isinstance(value, ast.Name | ast.Attribute) or _requester(value):
                continue
            last = value.id if isinstance(value, ast.Name) else value.attr
            if last.isupper() or last in {"True", "False", "None"}:
                continue
            root, _ = method_chain(value)
            if isinstance(value, ast.Attribute) and (
                isinstance(root, ast.Name) and root.id in parameter_names(ctx)
            ):
                # An object the framework hands the handler (``user: User =
                # Depends(current_user)``): often the requesting account, whose rows grow.
                continue
            object_key = isinstance(value, ast.Attribute) and value.attr in {"id", "pk", "uuid"}
            if argument.left.attr.endswith("_id") or object_key:
                return _short(ctx, argument, 50)
    return None


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
