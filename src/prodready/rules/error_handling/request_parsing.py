"""Error handling: query and form parameters parsed in a handler with nothing to turn a
malformed value into a 400 (ERR011)."""

from __future__ import annotations

import ast

from prodready.plugin import (
    Category,
    Confidence,
    PythonContext,
    Scope,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import catches_broadly, caught_names, constant_str, dotted

# Mappings of query-string and form parameters on the handler's request, by framework.
_PARAMETER_MAPPINGS = frozenset({"GET", "POST", "query_params", "query", "args", "form", "values"})
# Flask's (werkzeug's) MultiDict answers a missing key with BadRequestKeyError, a 400.
_FLASK_MAPPINGS = frozenset({"args", "form", "values"})
# Conversions that raise ValueError/TypeError (or InvalidOperation) on a malformed value.
_CONVERSIONS = frozenset(
    {"int", "float", "Decimal", "decimal.Decimal", "uuid.UUID", "UUID"}
    | {"datetime.fromisoformat", "datetime.strptime", "date.fromisoformat"}
    | {"datetime.datetime.fromisoformat", "datetime.datetime.strptime"}
    | {"datetime.date.fromisoformat", "time.fromisoformat", "datetime.time.fromisoformat"}
)
# What those conversions and a missing key raise, and the errors catching them.
_PARSE_ERRORS = frozenset(
    {"ValueError", "TypeError", "KeyError", "LookupError", "InvalidOperation", "ArithmeticError"}
    | {"DecimalException", "MultiValueDictKeyError", "JSONDecodeError", "ValidationError"}
)
_DIGIT_TESTS = frozenset({"isdigit", "isdecimal", "isnumeric", "fullmatch", "match"})


def _receiver(expr: ast.expr) -> str | None:
    text = dotted(expr)
    return text if text in {"request", "self.request", "req"} else None


def _mapping(expr: ast.expr) -> str | None:
    """``request.GET`` -> ``GET``."""
    if isinstance(expr, ast.Attribute) and expr.attr in _PARAMETER_MAPPINGS:
        return expr.attr if _receiver(expr.value) else None
    return None


def _parameter_read(expr: ast.expr) -> tuple[str, bool] | None:
    """``request.GET["x"]`` -> (``GET``, True), ``request.args.get("x")`` -> (``args``,
    False): the mapping read and whether it is indexed."""
    if isinstance(expr, ast.Subscript):
        name = _mapping(expr.value)
        return (name, True) if name else None
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr == "get"
        and not any(keyword.arg == "type" for keyword in expr.keywords)  # Flask converts
    ):
        name = _mapping(expr.func.value)
        return (name, False) if name else None
    return None


@python_rule(
    code="ERR011",
    name="request-parameter-parse-error",
    category=Category.ERROR_HANDLING,
    severity=Severity.LOW,
    confidence=Confidence.HIGH,
    summary="Query or form parameter indexed or converted in a handler with no 400 for a "
    "malformed value: a 500 instead",
    nodes=(ast.Call, ast.Subscript),
    fix="Validate parameters (a form, serializer, pydantic model, request.args.get('x', "
    "type=int)) or catch ValueError/KeyError and answer 400.",
)
def request_parameter_parse_error(node: ast.Call | ast.Subscript, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags, in an HTTP handler, a query-string or form parameter that is indexed
    (`request.GET["start"]`, `request.query_params["id"]`, aiohttp `request.query["day"]`) or
    converted (`int(request.GET.get("page"))`, `datetime.fromisoformat(request.args.get(
    "since"))`, `Decimal(request.POST["amount"])`, `uuid.UUID(...)`, also through a local
    bound to the parameter) outside any `try` that catches what that raises (`KeyError`,
    `ValueError`, `TypeError`, `InvalidOperation`, or everything), when the value is not
    first tested (`.isdigit()`, a regex match, `"key" in request.GET` before indexing).
    JSON documents in a parameter (`json.loads(request.POST["doc"])`) are API001's.
    Flask's `request.args["x"]` is not reported (werkzeug answers a missing key with 400
    itself), nor is `request.args.get("x", type=int)`.

    ## Why it breaks production
    A `KeyError` or `ValueError` escaping a handler is a 500 in Django, DRF, Flask, FastAPI
    and aiohttp alike. A client's typo (`?page=abc`, a missing `start`) becomes a server
    error: it pages the on-call engineer, counts against the error budget, and tells the
    client nothing about what to fix -- and a crawler or a retrying client turns it into an
    error-rate spike.

    ## Example
    ```python
    def availability(request, room_id):
        start = date.fromisoformat(request.GET["start"])
        return JsonResponse(rooms.availability(room_id, start))
    ```

    ## Use instead
    ```python
    def availability(request, room_id):
        try:
            start = date.fromisoformat(request.GET["start"])
        except (KeyError, ValueError):
            return JsonResponse({"error": "start must be a date (YYYY-MM-DD)"}, status=400)
        return JsonResponse(rooms.availability(room_id, start))
    ```
    """
    if ctx.facts.is_test:
        return
    function = ctx.function
    if function is None or not (function.route is not None or _view_action(function, ctx)):
        return
    flask = function.route is not None and function.route.framework == "flask"
    parents = ctx.parents()
    if isinstance(node, ast.Subscript):
        read = _parameter_read(node)
        if read is None or not isinstance(node.ctx, ast.Load):
            return
        if read[0] in _FLASK_MAPPINGS and flask:
            return
        holder = parents.get(id(node))
        if isinstance(holder, ast.Call) and _conversion(holder, ctx):
            return  # reported with the conversion
        if _presence_tested(node, function.node):
            return
        what = f"`{ctx.segment(node)}` raises KeyError when the parameter is missing"
    else:
        if not _conversion(node, ctx) or not node.args:
            return
        value = node.args[0]
        source = value
        if isinstance(value, ast.Name):
            bound = _bound_parameter(value.id, function.node, node)
            if bound is None or _tested(value.id, function.node):
                return
            source = bound
        if _parameter_read(source) is None:
            return
        what = f"`{ctx.segment(node)}` raises on a malformed or missing value"
    if _caught(node, parents, ctx):
        return
    ctx.report(
        node,
        f"{what}, and nothing here turns that into a 400: the client's mistake becomes a "
        "500 (an error-rate spike, a page for the on-call). Validate the parameter or catch "
        "the error and answer 400",
    )


def _view_action(function: Scope, ctx: PythonContext) -> bool:
    """A DRF viewset's extra action (``@action(detail=True)``): a handler the route facts
    do not list."""
    if function.class_info is None or not function.class_info.is_view:
        return False
    node = function.node
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
        (ctx.qualname(d.func if isinstance(d, ast.Call) else d) or "").endswith("decorators.action")
        for d in node.decorator_list
    )


def _conversion(call: ast.Call, ctx: PythonContext) -> bool:
    name = (ctx.qualname(call.func) or dotted(call.func) or "").removeprefix("builtins.")
    return name in _CONVERSIONS or name.rsplit(".", 2)[-2:] in (
        ["datetime", "fromisoformat"],
        ["datetime", "strptime"],
        ["date", "fromisoformat"],
    )


def _bound_parameter(name: str, function: ast.AST, use: ast.AST) -> ast.expr | None:
    """The parameter read a local is bound to before ``use`` (its only binding)."""
    bindings = [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    ]
    if len(bindings) != 1 or bindings[0].lineno > use.lineno:  # type: ignore[attr-defined]
        return None
    return bindings[0].value


def _presence_tested(read: ast.Subscript, function: ast.AST) -> bool:
    """The key is looked up on the same mapping before it is indexed (``if "sort" in
    request.GET``, ``if request.GET.get("sort") in VALID``): a test of its presence; or it
    was indexed before (that read is the one reported); or the whole mapping goes to a form
    or serializer that validates it; or the key is not a literal (a loop over the keys)."""
    key = constant_str(read.slice)
    mapping = ast.dump(read.value)
    if key is None:
        return True  # ``request.GET[k] for k in request.GET``: keys that are there
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and any(  # ``Form(request.POST)``: the form checks it
            ast.dump(arg) == mapping for arg in [*node.args, *(k.value for k in node.keywords)]
        ):
            return True
        if getattr(node, "lineno", read.lineno + 1) > read.lineno:
            continue
        if (  # indexed before: that read raises first
            isinstance(node, ast.Subscript)
            and node is not read
            and constant_str(node.slice) == key
            and ast.dump(node.value) == mapping
        ):
            return True
        if (
            isinstance(node, ast.Compare)
            and isinstance(node.ops[0], ast.In | ast.NotIn)
            and constant_str(node.left) == key
            and ast.dump(node.comparators[0]) == mapping
        ):
            return True
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and constant_str(node.args[0]) == key
            and ast.dump(node.func.value) == mapping
        ):
            return True
    return False


def _tested(name: str, function: ast.AST) -> bool:
    """``if page.isdigit():``, ``if PATTERN.match(page)``: the value is checked first."""
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _DIGIT_TESTS
            and (
                (isinstance(node.func.value, ast.Name) and node.func.value.id == name)
                or any(isinstance(arg, ast.Name) and arg.id == name for arg in node.args)
            )
        ):
            return True
    return False


def _caught(node: ast.AST, parents: dict[int, ast.AST], ctx: PythonContext) -> bool:
    """Inside the body of a ``try`` whose handlers catch what parsing raises."""
    child: ast.AST = node
    parent = parents.get(id(node))
    while parent is not None and not isinstance(
        parent, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
    ):
        if isinstance(parent, ast.Try | ast.TryStar) and any(child is s for s in parent.body):
            for handler in parent.handlers:
                if catches_broadly(handler, ctx) or any(
                    name.rsplit(".", 1)[-1] in _PARSE_ERRORS for name in caught_names(handler, ctx)
                ):
                    return True
        child, parent = parent, parents.get(id(parent))
    return False
