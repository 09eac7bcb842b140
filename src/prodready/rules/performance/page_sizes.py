"""Performance: a page size the client chooses with no maximum (PRF013)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import constant_str, dotted, walk_body

# Query parameters that set how many rows a response carries.
_PAGE_SIZE_NAMES = frozenset(
    {"limit", "page_size", "pagesize", "per_page", "perpage", "page-size", "per-page"}
    | {"max_results", "maxresults", "num_results", "take"}
)
# Where a request's query string is read (Flask, Django, DRF/Starlette, aiohttp).
_QUERY_STRINGS = (
    "request.args",
    "request.GET",
    "request.query_params",
    "request.rel_url.query",
    "request.query",
)
# Keywords of FastAPI's Query()/Path()/Field() (and pydantic's conint) that cap a number.
_UPPER_BOUNDS = ("le=", "lt=")
# Django REST framework paginators and the attribute that caps what the client may ask for.
_DRF_PAGINATORS = {
    "rest_framework.pagination.PageNumberPagination": ("page_size_query_param", "max_page_size"),
    "rest_framework.pagination.LimitOffsetPagination": ("", "max_limit"),
}


@dataclass(slots=True)
class _Reads:
    found: list[tuple[ast.AST, str, bool]] = field(default_factory=list)  # node, name, default


def _page_size_read(node: ast.AST, ctx: PythonContext) -> tuple[str, bool] | None:
    """``request.args.get("limit")`` / ``request.GET["page_size"]``: the parameter's name and
    whether a default is given."""
    if isinstance(node, ast.Call):
        func = node.func
        if not isinstance(func, ast.Attribute) or func.attr != "get" or not node.args:
            return None
        receiver, key = func.value, constant_str(node.args[0])
        has_default = len(node.args) > 1 or any(k.arg == "default" for k in node.keywords)
    elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        receiver, key, has_default = node.value, constant_str(node.slice), True  # KeyError
    else:
        return None
    if key is None or key.lower() not in _PAGE_SIZE_NAMES:
        return None
    text = dotted(receiver) or ""
    if not text.endswith(_QUERY_STRINGS):
        return None
    return key, has_default


def _clamped(node: ast.AST, function: ast.AST, ctx: PythonContext) -> bool:
    """The value read is capped: inside ``min(...)`` or a validator handed a maximum
    (``parse_int(raw, 1, MAX_PAGE)``), or assigned to a name that ``min()`` takes or that is
    compared with a bound (``if limit > MAX_LIMIT``)."""
    current: ast.AST = node
    parent = ctx.parent(current)
    while isinstance(parent, ast.expr):
        if isinstance(parent, ast.Call) and _caps(parent, current, ctx):
            return True
        current, parent = parent, ctx.parent(parent)
    if isinstance(parent, ast.Assign) and isinstance(parent.targets[0], ast.Name):
        return _name_bounded(parent.targets[0].id, function, ctx)
    if isinstance(parent, ast.AnnAssign) and isinstance(parent.target, ast.Name):
        return _name_bounded(parent.target.id, function, ctx)
    return False


def _caps(call: ast.Call, inside: ast.AST, ctx: PythonContext) -> bool:
    called = ctx.qualname(call.func) or dotted(call.func) or ""
    if called == "builtins.min" or any(w in called.lower() for w in ("clamp", "bound")):
        return True
    others = [a for a in [*call.args, *(k.value for k in call.keywords)] if a is not inside]
    return any("max" in (dotted(a) or "").lower() for a in others)


def _tested(node: ast.AST, ctx: PythonContext) -> bool:
    """Read only to test whether the client sent it (``if request.GET.get("page_size"):``)."""
    current, parent = node, ctx.parent(node)
    while isinstance(parent, ast.expr):
        current, parent = parent, ctx.parent(parent)
    return isinstance(parent, ast.If | ast.While) and parent.test is current


# Calls that take the number of rows a query returns (SQLAlchemy/Flask-SQLAlchemy, DB-API,
# Django's Paginator and its get_page).
_SIZING_METHODS = frozenset({"limit", "paginate", "fetchmany", "page", "get_page"})


def _sizing_call(call: ast.Call, ctx: PythonContext) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in _SIZING_METHODS:
        return True
    if (ctx.qualname(func) or "").endswith("Paginator"):
        return True
    if isinstance(func, ast.Attribute) and func.attr == "execute" and call.args:
        return "limit" in ctx.segment(call.args[0]).lower()
    return False


def _sizes_query(node: ast.AST, function: ast.AST, ctx: PythonContext) -> bool:
    """The value read sizes a query in this function: inside ``.limit(...)``, a slice's
    bound, ``Paginator(qs, ...)``, or assigned to a name used so."""
    parent = ctx.parent(node)
    while isinstance(parent, ast.expr):
        if isinstance(parent, ast.Slice) or (
            isinstance(parent, ast.Call) and _sizing_call(parent, ctx)
        ):
            return True
        parent = ctx.parent(parent)
    if isinstance(parent, ast.Assign) and isinstance(parent.targets[0], ast.Name):
        return _name_sizes_query(parent.targets[0].id, function, ctx)
    return False


def _name_sizes_query(name: str, function: ast.AST, ctx: PythonContext) -> bool:
    body = function.body if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) else []
    for inner in walk_body(body):
        if isinstance(inner, ast.Call) and _sizing_call(inner, ctx):
            operands: list[ast.expr] = [*inner.args, *(k.value for k in inner.keywords)]
        elif isinstance(inner, ast.Slice):
            operands = [part for part in (inner.lower, inner.upper) if part is not None]
        else:
            continue
        if any(isinstance(n, ast.Name) and n.id == name for o in operands for n in ast.walk(o)):
            return True
    return False


def _name_bounded(name: str, function: ast.AST, ctx: PythonContext) -> bool:
    body = function.body if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) else []
    for inner in walk_body(body):
        if isinstance(inner, ast.Call) and (ctx.qualname(inner.func) or "") == "builtins.min":
            operands: list[ast.expr] = inner.args
        elif isinstance(inner, ast.Compare) and any(
            isinstance(op, ast.Gt | ast.GtE | ast.Lt | ast.LtE) for op in inner.ops
        ):
            operands = [inner.left, *inner.comparators]
        else:
            continue
        if any(isinstance(n, ast.Name) and n.id == name for o in operands for n in ast.walk(o)):
            return True
    return False


def _default_and_cap(argument: ast.arg, default: ast.expr | None, ctx: PythonContext) -> str | None:
    """For a FastAPI parameter named like a page size: None when it is capped, else "none"
    (absent means no limit at all) or "uncapped" (a default, but any value accepted)."""
    annotation = ctx.segment(argument.annotation) if argument.annotation is not None else ""
    if "int" not in annotation:
        return None
    spec = annotation + (ctx.segment(default) if default is not None else "")
    if any(bound in spec.replace(" ", "") for bound in _UPPER_BOUNDS):
        return None
    value = default
    if isinstance(value, ast.Call) and value.args:
        value = value.args[0]  # Query(100)
    elif isinstance(value, ast.Call):
        value = next((k.value for k in value.keywords if k.arg == "default"), None)
    if value is None or (isinstance(value, ast.Constant) and value.value is None):
        return "none"
    return "uncapped"


@python_rule(
    code="PRF013",
    name="uncapped-page-size",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="The client chooses how many rows a list returns, with no maximum",
    nodes=(ast.Call, ast.Subscript, ast.ClassDef, FunctionEnd),
    fix="Give the page size a default and a maximum: min(int(limit or 50), 200), "
    "Query(50, ge=1, le=200), max_page_size/max_limit on the DRF paginator.",
)
def uncapped_page_size(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a page size taken from the client without an upper bound: a query-string read
    (`request.args.get("limit")` in Flask, `request.GET.get("page_size")` in Django,
    `request.query_params` in Starlette/DRF, `request.rel_url.query` in aiohttp) that no
    `min()` or comparison caps; a FastAPI parameter named `limit`/`page_size`/`per_page`
    without `le=` (`limit: int | None = None`, `limit: int = 100`); a Django REST framework
    `PageNumberPagination` with `page_size_query_param` but no `max_page_size`, or a
    `LimitOffsetPagination` without `max_limit`. With no default at all (absent means every
    row) it is reported at medium; with a default but no maximum at low.

    ## Why it breaks production
    Pagination only protects the service if the client cannot switch it off. `?limit=` left
    empty returns the whole history; `?limit=10000000` from one script, crawler or curious
    user makes the worker load the table, serialize it into one response and run out of
    memory or time -- a denial of service anyone can trigger with a URL.

    ## Example
    ```python
    @app.get("/sensors/<sensor_id>/events")
    def events(sensor_id):
        limit = request.args.get("limit", type=int)
        return jsonify(load_events(sensor_id, limit=limit))
    ```

    ## Use instead
    ```python
    MAX_PAGE = 500

    @app.get("/sensors/<sensor_id>/events")
    def events(sensor_id):
        limit = min(request.args.get("limit", 100, type=int), MAX_PAGE)
        return jsonify(load_events(sensor_id, limit=max(limit, 1)))
    ```
    FastAPI: `limit: int = Query(100, ge=1, le=500)`; DRF: `max_page_size = 500`.
    """
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.ClassDef):
        _paginator(node, ctx)
        return
    if ctx.function is None:
        return
    state: _Reads = ctx.rule_state(_Reads)
    if isinstance(node, ast.Call | ast.Subscript):
        read = _page_size_read(node, ctx)
        if read is not None:
            state.found.append((node, *read))
        return
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    for found, key, has_default in state.found:
        if _tested(found, ctx) or _clamped(found, node, ctx):
            continue
        # With a default, only where the value visibly sizes a query here: a helper it is
        # handed to may cap it (a store that rejects max_results above its threshold).
        if has_default and not _sizes_query(found, node, ctx):
            continue
        _report(ctx, found, f'the "{key}" query parameter', key, has_default)
    state.found.clear()
    if ctx.route is None:
        return
    arguments = node.args
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults))
    pairs = list(zip(positional, [*defaults, *arguments.defaults], strict=True))
    pairs += list(zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True))
    for argument, default in pairs:
        if argument.arg.lower() not in _PAGE_SIZE_NAMES:
            continue
        verdict = _default_and_cap(argument, default, ctx)
        if verdict == "uncapped" and not _name_sizes_query(argument.arg, node, ctx):
            continue
        if verdict is not None:
            _report(
                ctx, argument, f"the {argument.arg} parameter", argument.arg, verdict == "uncapped"
            )


def _report(ctx: PythonContext, node: ast.AST, what: str, key: str, has_default: bool) -> None:
    if has_default:
        ctx.report(
            node,
            f"{what} sets how many rows the response carries with no maximum: "
            f"?{key}=10000000 loads and serializes the whole table. Cap it (min(value, MAX), "
            "Query(..., le=MAX))",
            severity=Severity.LOW,
        )
        return
    ctx.report(
        node,
        f"{what} sets how many rows the response carries with no default and no maximum: "
        "left out, the query returns every row; set huge, the same. Give it a default and a "
        "cap (min(value or 50, MAX), Query(50, le=MAX))",
    )


def _paginator(node: ast.ClassDef, ctx: PythonContext) -> None:
    for base in node.bases:
        spec = _DRF_PAGINATORS.get(ctx.qualname(base) or "")
        if spec is None:
            continue
        query_param, cap = spec
        assigned = {
            target.id: statement
            for statement in node.body
            if isinstance(statement, ast.Assign)
            for target in statement.targets
            if isinstance(target, ast.Name)
        }
        capped = assigned.get(cap)
        if capped is not None and not (
            isinstance(capped.value, ast.Constant) and capped.value.value is None
        ):
            return
        if query_param and query_param not in assigned:
            return  # the client cannot choose the size
        where = assigned.get(query_param) if query_param else None
        ctx.report(
            where.targets[0] if where is not None else node,
            f"{node.name} lets the client choose the page size with no {cap}: "
            f"?{'page_size' if query_param else 'limit'}=10000000 serializes the whole table "
            f"in one response. Set {cap}",
            severity=Severity.LOW,
        )
        return
