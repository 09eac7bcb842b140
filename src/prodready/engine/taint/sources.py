"""Taint sources: request data, the handler parameters a client chooses, and -- for second-order
flows -- network responses, socket reads, cache reads and message payloads."""

from __future__ import annotations

import ast

from prodready.engine.analysis import dotted
from prodready.engine.facts import Route
from prodready.engine.python import ModuleMemo, PythonContext, Scope
from prodready.engine.taint.call_sites import module_call_sites

# Attributes of a request object that carry client-controlled data (Flask/Werkzeug, Django,
# DRF, Starlette/FastAPI, aiohttp).
REQUEST_DATA_ATTRIBUTES = frozenset(
    {"args", "form", "values", "json", "get_json", "data", "get_data", "files", "cookies"}
    | {"headers", "view_args", "query_string", "body", "GET", "POST", "FILES", "COOKIES", "META"}
    | {"query_params", "path_params", "stream", "read", "text", "content", "match_info", "query"}
    | {"post", "url", "path", "full_path", "path_info", "raw_post_data", "params", "environ"}
)


_REQUEST_OBJECT_NAMES = frozenset({"request", "req"})


_REQUEST_TYPE_SUFFIXES = ("Request", "HttpRequest", "WebSocket")


_REQUEST_GLOBALS = ("flask.request.", "quart.request.", "werkzeug.local.request.")


_REQUEST_NOT_DATA = frozenset({"method", "endpoint", "blueprint", "url_rule", "is_json", "scheme"})


# Parameter types a framework validates into values that cannot carry text.
_SAFE_PARAM_TYPES = frozenset(
    {"int", "float", "bool", "UUID", "uuid", "datetime", "date", "time", "timedelta", "Decimal"}
    | {"UUID1", "UUID3", "UUID4", "UUID5", "PositiveInt", "NonNegativeInt", "StrictInt"}
    | {"Session", "AsyncSession", "BackgroundTasks", "Response", "Connection", "Engine"}
)


_DEPENDENCY_DEFAULTS = frozenset({"Depends", "Security"})


_NETWORK_PREFIXES = ("requests.", "httpx.", "aiohttp.", "urllib.request.urlopen", "urllib3.")
_SERVER_REQUESTS = ("aiohttp.web.Request.", "aiohttp.web.BaseRequest.", "aiohttp.web_request.")


_NETWORK_DATA = frozenset(
    {"content", "text", "json", "read", "body", "data", "raw", "iter_content", "iter_lines"}
    | {"aread", "iter_bytes", "iter_text", "recv", "receive", "receive_bytes", "receive_text"}
)


_SOCKET_READS = frozenset({"recv", "recvfrom", "recv_into", "recvmsg"})


_CACHE_READS = frozenset(
    {"get", "hget", "hgetall", "lpop", "rpop", "blpop", "brpop", "getdel", "getex", "mget"}
    | {"lindex", "lrange", "get_many"}
)


_MESSAGE_NAMES = frozenset({"message", "msg"})


_MESSAGE_DATA = frozenset({"body", "value", "data", "payload", "content"})


def _annotation_words(annotation: ast.AST | None) -> set[str]:
    """The names a parameter annotation mentions (``int | None`` -> {int, None})."""
    words: set[str] = set()
    if annotation is None:
        return words
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            words.update(part.strip() for part in node.value.replace("|", " ").split())
    return words


def _parameter(
    node: ast.FunctionDef | ast.AsyncFunctionDef, name: str
) -> tuple[ast.arg, ast.expr | None] | None:
    """The parameter ``name`` of a function and its default value."""
    a = node.args
    positional = [*a.posonlyargs, *a.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults))
    defaults.extend(a.defaults)
    for arg, default in zip(positional, defaults, strict=True):
        if arg.arg == name:
            return arg, default
    for arg, kw_default in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        if arg.arg == name:
            return arg, kw_default
    for extra in (a.vararg, a.kwarg):
        if extra is not None and extra.arg == name:
            return extra, None
    return None


def is_request_object(name: str, ctx: PythonContext) -> bool:
    """``name`` is an HTTP request object here: a parameter called ``request``/``req`` or one
    annotated with a request type (Django ``HttpRequest``, Starlette/FastAPI ``Request``)."""
    scope = ctx.function
    while scope is not None:
        found = _parameter(scope.node, name)
        if found is not None:
            words = _annotation_words(found[0].annotation)
            if any(word.endswith(_REQUEST_TYPE_SUFFIXES) for word in words):
                return True
            if name not in _REQUEST_OBJECT_NAMES or words - {"Any", "object"}:
                return False
            return _request_by_context(scope, name, ctx)
        if name in scope.bindings:
            return False
        scope = scope.parent
    return False


# Roots of the web frameworks whose handlers take a request object.
_WEB_FRAMEWORKS = frozenset(
    {"flask", "quart", "werkzeug", "django", "rest_framework", "starlette", "fastapi"}
    | {"aiohttp", "falcon", "tornado", "pyramid", "sanic", "bottle", "litestar", "ninja"}
)
# Attributes only a framework's request object has (not ``url``, ``data``, ``text``...: a
# ``packaging`` Requirement has a ``url``, a urllib Request ``data``).
_FRAMEWORK_REQUEST_ATTRIBUTES = frozenset(
    {"GET", "POST", "META", "FILES", "COOKIES", "query_params", "path_params", "match_info"}
    | {"get_json", "view_args", "form", "args", "cookies", "session", "user", "build_absolute_uri"}
    | {"get_host", "is_secure", "remote_addr", "access_route", "client"}
)


def _request_by_context(scope: Scope, name: str, ctx: PythonContext) -> bool:
    """An unannotated parameter called ``request``/``req`` is an HTTP request object when
    the facts say so: its function is a handler, the module uses a web framework, or the
    function reads an attribute only a framework's request has (``request.GET``) -- not a
    ``req`` of a packaging tool (setuptools: ``req.url`` of a Requirement)."""
    if scope.route is not None or ctx.memo(_WEB_MODULE):
        return True
    known = ctx.memo(_READS_REQUEST)
    key = (id(scope.node), name)
    if key not in known:
        known[key] = any(
            isinstance(node, ast.Attribute)
            and node.attr in _FRAMEWORK_REQUEST_ATTRIBUTES
            and isinstance(node.value, ast.Name)
            and node.value.id == name
            for node in ast.walk(scope.node)
        )
    return known[key]


# (id(function), parameter) -> whether the function reads a framework-only request attribute
_READS_REQUEST: ModuleMemo[dict[tuple[int, str], bool]] = ModuleMemo(
    "taint:reads-request", lambda _: {}
)


def _uses_web_framework(ctx: PythonContext) -> bool:
    return any(
        isinstance(target, str) and target.partition(".")[0] in _WEB_FRAMEWORKS
        for target in ctx.facts.bindings.values()
    )


_WEB_MODULE: ModuleMemo[bool] = ModuleMemo("taint:web-module", _uses_web_framework)


def route_parameter(name: str, ctx: PythonContext) -> bool:
    """``name`` is a parameter of the enclosing HTTP handler that the client chooses (a path,
    query or body value): not ``self``, the request object, an injected dependency
    (``Depends(...)``) or a value validated into a number, UUID, date, ``Literal`` or enum."""
    scope = ctx.function
    if scope is None or name in scope.values:
        return False
    return handler_parameter(name, ctx)


def handler_parameter(name: str, ctx: PythonContext) -> bool:
    """``route_parameter`` for the parameter's value on entry (it may be reassigned later)."""
    scope = ctx.function
    if scope is None or client_route(scope, ctx) is None or scope.route is None:
        return False
    found = _parameter(scope.node, name)
    if found is None or name in {"self", "cls"}:
        return False
    arg, default = found
    if default is not None and _django_function_view(scope):
        return False  # ``serve(request, path, document_root=None)``: options set in urls.py
    if isinstance(default, ast.Call):
        called = dotted(default.func) or ""
        if called.rsplit(".", 1)[-1] in _DEPENDENCY_DEFAULTS:
            return False
    words = _annotation_words(arg.annotation)
    if words & _SAFE_PARAM_TYPES or any(w.endswith(_REQUEST_TYPE_SUFFIXES) for w in words):
        return False
    if words & _DEPENDENCY_DEFAULTS or "Literal" in words or words & _enum_classes(ctx):
        return False  # ``Annotated[User, Depends(...)]``, ``Literal["asc", "desc"]``, enums
    path = scope.route.path or ""
    if any(f"<{converter}:{name}>" in path for converter in ("int", "float", "uuid")):
        return False  # Flask/Werkzeug converters only let numbers/UUIDs through
    return not is_request_object(name, ctx)


def _django_function_view(scope: Scope) -> bool:
    """A Django function view (in a views module, ``request`` first, or decorated with
    ``@require_POST``...): its URL and extra arguments are set in urls.py."""
    route = scope.route
    return (
        route is not None
        and route.framework == "django"
        and route.path is None
        and scope.class_info is None
        and scope.parent is None
    )


def client_route(scope: Scope, ctx: PythonContext) -> Route | None:
    """The route whose parameters the client chooses: not a "view" by convention that the
    module itself calls with its own values (``render_flatpage(request, page)``)."""
    if _django_function_view(scope) and scope.node.name in module_call_sites(ctx):
        return None
    return scope.route


def _module_enum_classes(ctx: PythonContext) -> frozenset[str]:
    return frozenset(
        node.name
        for node in ctx.tree.body
        if isinstance(node, ast.ClassDef)
        and any((dotted(base) or "").endswith("Enum") for base in node.bases)
    )


_ENUM_CLASSES: ModuleMemo[frozenset[str]] = ModuleMemo("taint:enums", _module_enum_classes)


def _enum_classes(ctx: PythonContext) -> frozenset[str]:
    """Classes of this module derived from ``Enum``: a parameter of such a type is one of
    their constant values."""
    return ctx.memo(_ENUM_CLASSES)


def _chain_root(expr: ast.AST) -> tuple[ast.AST, str | None]:
    """The base of ``a.b[c].d()`` and the attribute right after it (``a``, ``"b"``)."""
    first: str | None = None
    while True:
        if isinstance(expr, ast.Attribute):
            first = expr.attr
            expr = expr.value
        elif isinstance(expr, ast.Subscript):
            expr = expr.value
        elif isinstance(expr, ast.Call):
            expr = expr.func
        elif isinstance(expr, ast.Await):
            expr = expr.value
        else:
            return expr, first


def short_excerpt(ctx: PythonContext, node: ast.AST) -> str:
    text = " ".join(ctx.segment(node).split())
    return text if len(text) <= 48 else text[:45] + "..."


def request_attribute(node: ast.AST, ctx: PythonContext) -> str | None:
    """The request attribute a request-data read starts with (``request.args.get("x")`` ->
    ``args``), for sinks to which some request attributes are harmless."""
    func = node.func if isinstance(node, ast.Call) else node
    qualified = ctx.qualname(func) if isinstance(func, ast.Attribute | ast.Name) else None
    if qualified is not None and qualified.startswith(_REQUEST_GLOBALS):
        return qualified.split(".")[2]
    _base, first = _chain_root(node)
    return first


def direct_source(node: ast.AST, ctx: PythonContext) -> str | None:
    """The external source ``node`` itself reads, without looking at its children."""
    if isinstance(node, ast.Name):
        return f"route parameter `{node.id}`" if route_parameter(node.id, ctx) else None
    if not isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        return None
    func = node.func if isinstance(node, ast.Call) else node
    qualified = ctx.qualname(func) if isinstance(func, ast.Attribute | ast.Name) else None
    if qualified is not None:
        if qualified.startswith(_REQUEST_GLOBALS):
            attribute = qualified.split(".")[2]
            if attribute not in _REQUEST_NOT_DATA:
                return f"request data `{short_excerpt(ctx, node)}`"
        last = qualified.rsplit(".", 1)[-1]
        if (
            qualified.startswith(_NETWORK_PREFIXES)
            and last in _NETWORK_DATA
            and not qualified.startswith(_SERVER_REQUESTS)  # aiohttp's own web.Request
        ):
            return f"a network response `{short_excerpt(ctx, node)}`"
        if isinstance(node, ast.Call) and isinstance(func, ast.Attribute):
            if func.attr in _SOCKET_READS:
                return f"a socket read `{short_excerpt(ctx, node)}`"
            if func.attr in _CACHE_READS:
                receiver = (ctx.qualname(func.value) or dotted(func.value) or "").lower()
                if "redis" in receiver or receiver.rsplit(".", 1)[-1].strip("_") == "cache":
                    return f"a cache read `{short_excerpt(ctx, node)}`"
    base, first = _chain_root(node)
    if isinstance(base, ast.Name) and first is not None:
        if first in REQUEST_DATA_ATTRIBUTES and is_request_object(base.id, ctx):
            return f"request data `{short_excerpt(ctx, node)}`"
        if base.id in _MESSAGE_NAMES and first in _MESSAGE_DATA:
            return f"a message payload `{short_excerpt(ctx, node)}`"
    return None
