"""Intra-procedural taint tracking: does a value carry data from outside the process?

Sources: request data (Flask/Quart ``request.*``, Django/DRF ``request.GET/POST/body/FILES/
data``, Starlette/FastAPI ``request.query_params/json()/body()``...), the parameters of an HTTP
handler the client chooses (FastAPI path/query/body parameters, Django URL kwargs, Flask
``<param>``; not ``Depends(...)``, numbers, UUIDs, dates, ``Literal`` or enum types), and -- for
second-order flows -- network responses, socket reads, cache/Redis reads and message payloads.
``sys.argv`` and environment variables are not sources: the operator controls them, not the
client.

Propagation follows local assignments (the binding in force at that point: ``q = q.strip()``
keeps the parameter's taint), loop variables, f-strings, ``%``, ``.format``, concatenation,
``join``, string methods, containers, and calls of *helper functions defined in the same
module* -- whose return value depends on a tainted argument, or which read the request
themselves. Lookups by key (``COLUMNS.get(sort)``, ``Model.objects.get(pk=x)``,
``get_object_or_404``) return stored values, not the key. Sanitisers stop the flow:
conversions to numbers, booleans, UUIDs and dates everywhere, plus the sink-specific ones a rule
passes (``shlex.quote`` for commands, ``secure_filename`` for paths, qualified attributes such
as ``pathlib.Path.name``, ``os.path.splitext[1]``, request attributes such as ``request.url``),
allow-lists (a name checked with ``in``/``not in`` against a constant collection, only where
the check holds: see :mod:`prodready.engine.allowlist`) and the checks a sink asks for with
markers (``PATH_CONTAINMENT_CHECK``, ``URL_HOST_CHECK``, ``SAFE_REDIRECT_CHECK``,
``SEGMENT_PARAMETERS``).

Sinks inside helpers: :func:`sink_flow` reports a sink reached by external data, and when the
value only derives from the parameters of the enclosing module-level helper, remembers it;
:func:`report_deferred` (called from the rule's ``ModuleEnd``) reports it when a function of the
module passes external data to the helper, rebuilding the caller's bindings after the walk.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prodready.engine.allowlist import AllowListed, allow_listed, is_allow_listed
from prodready.engine.analysis import dotted, function_flow, module_function, module_functions
from prodready.engine.facts import Route
from prodready.engine.python import ClassInfo, PythonContext, Scope

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
    | {"Session", "AsyncSession", "BackgroundTasks", "Response", "Connection", "Engine"}
)
_DEPENDENCY_DEFAULTS = frozenset({"Depends", "Security"})
_NETWORK_PREFIXES = ("requests.", "httpx.", "aiohttp.", "urllib.request.urlopen", "urllib3.")
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
            return name in _REQUEST_OBJECT_NAMES and not words - {"Any", "object"}
        if name in scope.bindings:
            return False
        scope = scope.parent
    return False


def route_parameter(name: str, ctx: PythonContext) -> bool:
    """``name`` is a parameter of the enclosing HTTP handler that the client chooses (a path,
    query or body value): not ``self``, the request object, an injected dependency
    (``Depends(...)``) or a value validated into a number, UUID, date, ``Literal`` or enum."""
    scope = ctx.function
    if scope is None or name in scope.values:
        return False
    return _handler_parameter(name, ctx)


def _handler_parameter(name: str, ctx: PythonContext) -> bool:
    """``route_parameter`` for the parameter's value on entry (it may be reassigned later)."""
    scope = ctx.function
    if scope is None or _client_route(scope, ctx) is None or scope.route is None:
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


def _client_route(scope: Scope, ctx: PythonContext) -> Route | None:
    """The route whose parameters the client chooses: not a "view" by convention that the
    module itself calls with its own values (``render_flatpage(request, page)``)."""
    if _django_function_view(scope) and scope.node.name in _call_sites(ctx):
        return None
    return scope.route


def _enum_classes(ctx: PythonContext) -> frozenset[str]:
    """Classes of this module derived from ``Enum``: a parameter of such a type is one of
    their constant values."""
    cached: frozenset[str] | None = ctx.module_state.get("taint:enums")
    if cached is None:
        cached = frozenset(
            node.name
            for node in ctx.tree.body
            if isinstance(node, ast.ClassDef)
            and any((dotted(base) or "").endswith("Enum") for base in node.bases)
        )
        ctx.module_state["taint:enums"] = cached
    return cached


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


def _short(ctx: PythonContext, node: ast.AST) -> str:
    text = " ".join(ctx.segment(node).split())
    return text if len(text) <= 48 else text[:45] + "..."


def _request_attribute(node: ast.AST, ctx: PythonContext) -> str | None:
    """The request attribute a request-data read starts with (``request.args.get("x")`` ->
    ``args``), for sinks to which some request attributes are harmless."""
    func = node.func if isinstance(node, ast.Call) else node
    qualified = ctx.qualname(func) if isinstance(func, ast.Attribute | ast.Name) else None
    if qualified is not None and qualified.startswith(_REQUEST_GLOBALS):
        return qualified.split(".")[2]
    _base, first = _chain_root(node)
    return first


def _direct_source(node: ast.AST, ctx: PythonContext) -> str | None:
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
                return f"request data `{_short(ctx, node)}`"
        last = qualified.rsplit(".", 1)[-1]
        if qualified.startswith(_NETWORK_PREFIXES) and last in _NETWORK_DATA:
            return f"a network response `{_short(ctx, node)}`"
        if isinstance(node, ast.Call) and isinstance(func, ast.Attribute):
            if func.attr in _SOCKET_READS:
                return f"a socket read `{_short(ctx, node)}`"
            if func.attr in _CACHE_READS:
                receiver = (ctx.qualname(func.value) or dotted(func.value) or "").lower()
                if "redis" in receiver or receiver.rsplit(".", 1)[-1].strip("_") == "cache":
                    return f"a cache read `{_short(ctx, node)}`"
    base, first = _chain_root(node)
    if isinstance(base, ast.Name) and first is not None:
        if first in REQUEST_DATA_ATTRIBUTES and is_request_object(base.id, ctx):
            return f"request data `{_short(ctx, node)}`"
        if base.id in _MESSAGE_NAMES and first in _MESSAGE_DATA:
            return f"a message payload `{_short(ctx, node)}`"
    return None


# -- propagation --------------------------------------------------------------------------------

# Conversions whose result cannot carry attacker-chosen text, whatever the sink.
VALUE_SANITIZERS = frozenset(
    {"builtins.int", "builtins.float", "builtins.bool", "builtins.len", "builtins.abs"}
    | {"builtins.round", "builtins.hash", "builtins.id", "builtins.ord", "builtins.isinstance"}
    | {"uuid.UUID", "decimal.Decimal", "datetime.date.fromisoformat", "datetime.fromisoformat"}
    | {"datetime.datetime.fromisoformat", "datetime.datetime.strptime", "ipaddress.ip_address"}
)
# Method calls whose result is not text derived from the receiver.
_NEUTRAL_METHODS = frozenset(
    {"isdigit", "isnumeric", "isdecimal", "isalnum", "isalpha", "startswith", "endswith"}
    | {"count", "find", "index", "rfind", "hexdigest", "digest", "exists", "is_valid"}
)
# Lookups whose result is a stored value, not the key they were given: ``COLUMNS.get(sort)``,
# ``Model.objects.get(pk=key)``, ``session.get(User, key)``, ``query.filter_by(name=key)``.
_LOOKUP_METHODS = frozenset(
    {"get", "filter", "filter_by", "exclude", "get_or_404", "first_or_404", "one_or_404"}
)
_LOOKUP_FUNCTIONS = frozenset(
    {"django.shortcuts.get_object_or_404", "django.shortcuts.get_list_or_404"}
)
# Hash constructors: a digest of tainted data is not the data.
_HASH_PREFIXES = ("hashlib.", "hmac.")
MAX_DEPTH = 10
Source = str  # a one-line description of where the data comes from
Report = Callable[[Source], None]

# Markers a sink can put among its ``sanitizers``: checks in the enclosing function that make
# the names they inspect safe for that kind of sink (as an allow-list does for every sink).
PATH_CONTAINMENT_CHECK = "check:path-containment"
"""``os.path.realpath(p).startswith(base)``, ``p.resolve().is_relative_to(base)``,
``os.path.commonpath(...)``, ``".." in name``: the path cannot leave its directory."""
URL_HOST_CHECK = "check:url-host"
"""``urlparse(url).hostname in ALLOWED_HOSTS``, ``url.startswith("https://api.example.com/")``,
``is_allowed_url(url)``: the request can only go to known hosts."""
SAFE_REDIRECT_CHECK = "check:safe-redirect"
"""``url_has_allowed_host_and_scheme(url, ...)``, ``is_safe_url(url)``,
``url.startswith("/") and not url.startswith("//")``, a test of ``urlparse(url).netloc``."""
SEGMENT_PARAMETERS = "check:segment-parameters"
"""Route parameters matched as one path segment (FastAPI ``{name}``, Flask ``<name>``) cannot
hold a ``/``: not sources for path sinks (``{name:path}``/``<path:name>`` and query parameters
still are)."""
_GUARD_MARKERS = frozenset({PATH_CONTAINMENT_CHECK, URL_HOST_CHECK, SAFE_REDIRECT_CHECK})
_RESOLVING_CALLS = frozenset({"realpath", "abspath", "normpath", "resolve", "commonpath"})
_HOST_ATTRIBUTES = frozenset({"hostname", "netloc", "host"})
_URL_CHECK_FUNCTION = re.compile(
    r"(?:safe|allowed|trusted|allowlist|whitelist|permitted)\w*"
    r"(?:url|uri|host|domain|redirect|next|target|location|endpoint|destination)"
    r"|(?:url|uri|host|domain|redirect)\w*(?:allowed|safe|trusted|permitted)"
    r"|url_has_allowed_host_and_scheme|valid\w*redirect",
    re.IGNORECASE,
)
_FIXED_HOST_PREFIX = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@\\\s{}]+[/?#]")


class _Tracer:
    def __init__(
        self,
        ctx: PythonContext,
        sanitizers: frozenset[str],
        web_only: bool,
        params: dict[str, int] | None = None,
    ) -> None:
        self.ctx = ctx
        self.sanitizers = sanitizers
        self.web_only = web_only
        self.guarded: frozenset[str] = frozenset()  # filled for the second pass, see run()
        self.allowed: AllowListed = {}  # likewise: where membership checks prove a name safe
        self.request_filters = frozenset(
            entry.split(".", 1)[1] for entry in sanitizers if entry.startswith("request.")
        )
        self.segments_safe = SEGMENT_PARAMETERS in sanitizers
        self.params = params  # the enclosing helper's parameters: record those that flow
        self.reached: set[int] = set()
        self.limit: tuple[int, int] | None = None  # bindings at or after this are too late
        self.visiting: set[int] = set()

    def run(self, expr: ast.AST | None) -> Source | None:
        """Trace ``expr``; the checks of the enclosing function (allow-lists...) only remove
        sources, so they are computed only when a first pass without them finds one."""
        reached = set(self.reached)
        self.limit = _position(expr)
        found = self.trace(expr)
        scope = self.ctx.function
        if (found is None and self.reached == reached) or scope is None:
            return found
        guarded = _guards(scope.node, self.ctx, self.sanitizers)
        allowed = _allowed(scope.node, self.ctx, self.sanitizers)
        if not guarded and not allowed:
            return found
        self.guarded, self.allowed, self.reached = guarded, allowed, reached
        self.limit = _position(expr)
        try:
            return self.trace(expr)
        finally:
            self.guarded, self.allowed = frozenset(), {}

    def trace(self, expr: ast.AST | None, depth: int = 0) -> Source | None:
        if expr is None or depth > MAX_DEPTH or id(expr) in self.visiting:
            return None
        self.visiting.add(id(expr))
        try:
            return self._trace(expr, depth)
        finally:
            self.visiting.discard(id(expr))

    def _trace(self, expr: ast.AST, depth: int) -> Source | None:
        ctx = self.ctx
        if isinstance(expr, ast.Constant | ast.Compare | ast.Lambda):
            return None
        if isinstance(expr, ast.Name):
            return self._name(expr, depth)
        if self.sanitizers and self._sanitized_read(expr):
            return None
        if isinstance(expr, ast.Call) and self._converted_lookup(expr):
            return None
        direct = _direct_source(expr, ctx)
        if direct is not None:
            if self.web_only and not direct.startswith(("request", "route")):
                return None
            if (
                self.request_filters
                and direct.startswith("request")
                and _request_attribute(expr, ctx) in self.request_filters
            ):
                return None
            return direct
        if isinstance(expr, ast.Call):
            return self._call(expr, depth)
        if isinstance(expr, ast.Attribute):
            found = self.trace(expr.value, depth + 1)
            if found is not None and expr.attr == "filename":
                return f"the client-chosen file name `{_short(ctx, expr)}`"
            if (
                found is not None
                and found.startswith("route parameter")
                and isinstance(expr.value, ast.Name)
            ):
                return f"route parameter `{_short(ctx, expr)}`"  # a body model's ``body.url``
            return found
        if isinstance(expr, ast.Subscript | ast.Await | ast.Starred | ast.NamedExpr):
            return self.trace(expr.value, depth + 1)
        if isinstance(expr, ast.FormattedValue):
            return self.trace(expr.value, depth + 1)
        if isinstance(expr, ast.BinOp):
            return self.trace(expr.left, depth + 1) or self.trace(expr.right, depth + 1)
        if isinstance(expr, ast.IfExp):
            return self.trace(expr.body, depth + 1) or self.trace(expr.orelse, depth + 1)
        if isinstance(expr, ast.JoinedStr | ast.BoolOp | ast.Tuple | ast.List | ast.Set):
            parts = expr.values if isinstance(expr, ast.JoinedStr | ast.BoolOp) else expr.elts
            return self._first(parts, depth)
        if isinstance(expr, ast.Dict):
            return self._first([v for v in expr.values if v is not None], depth)
        if isinstance(expr, ast.ListComp | ast.SetComp | ast.GeneratorExp):
            return self.trace(expr.elt, depth + 1)
        return None

    def _converted_lookup(self, call: ast.Call) -> bool:
        """``request.args.get("page", 1, type=int)``: Werkzeug converts the value."""
        if not isinstance(call.func, ast.Attribute) or call.func.attr not in {"get", "getlist"}:
            return False
        for keyword in call.keywords:
            if keyword.arg == "type" and isinstance(keyword.value, ast.Name | ast.Attribute):
                return self.ctx.qualname(keyword.value) in VALUE_SANITIZERS
        return False

    def _sanitized_read(self, expr: ast.AST) -> bool:
        """``Path(name).name`` (a qualified attribute among the sanitisers) or
        ``os.path.splitext(name)[1]`` (``"os.path.splitext[1]"``)."""
        ctx = self.ctx
        if isinstance(expr, ast.Attribute):
            return ctx.qualname(expr) in self.sanitizers
        if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Call):
            index = expr.slice
            if isinstance(index, ast.Constant) and isinstance(index.value, int):
                callee = ctx.qualname(expr.value.func) or ""
                return f"{callee}[{index.value}]" in self.sanitizers
        return False

    def _name(self, expr: ast.Name, depth: int) -> Source | None:
        name = expr.id
        if name in self.guarded or is_allow_listed(expr, self.allowed):
            return None
        ctx = self.ctx
        scope = ctx.function
        if scope is not None and (name in scope.bindings or name in scope.values):
            value = scope.values.get(name)
            if value is not None and (self.limit is None or _before(value, self.limit)):
                return self._expand(value, depth)
            earlier = _binding_before(scope.node, name, self.limit, ctx)
            if earlier is _ENTRY:
                return self._parameter(name)
            if not isinstance(earlier, ast.expr):
                return None  # bound by ``except ... as``, an import, a def: not data
            return self._expand(earlier, depth)
        return self.trace(ctx.value_of(name), depth + 1)  # enclosing function or module

    def _expand(self, value: ast.expr, depth: int) -> Source | None:
        """Trace the value a local was bound to, looking only at bindings before it."""
        saved = self.limit
        self.limit = _position(value) or saved
        try:
            return self.trace(value, depth + 1)
        finally:
            self.limit = saved

    def _parameter(self, name: str) -> Source | None:
        """A parameter of the enclosing function, with the value it was called with."""
        ctx = self.ctx
        if _handler_parameter(name, ctx):
            if self.segments_safe and _segment_parameter(name, ctx):
                return None
            return f"route parameter `{name}`"
        if self.params is not None and name in self.params:
            self.reached.add(self.params[name])
        return None

    def _first(self, parts: list[ast.expr], depth: int) -> Source | None:
        for part in parts:
            found = self.trace(part, depth + 1)
            if found is not None:
                return found
        return None

    def _call(self, call: ast.Call, depth: int) -> Source | None:
        ctx = self.ctx
        callee = ctx.qualname(call.func) or ""
        if callee in VALUE_SANITIZERS or callee in self.sanitizers or callee in _LOOKUP_FUNCTIONS:
            return None
        if callee.startswith(_HASH_PREFIXES):
            return None
        method = call.func.attr if isinstance(call.func, ast.Attribute) else None
        if method is not None and (method in _NEUTRAL_METHODS or method in self.sanitizers):
            return None
        helper = module_function(call, ctx)
        if helper is not None:
            return self._helper(helper, call, depth)
        if isinstance(call.func, ast.Attribute) and method in _LOOKUP_METHODS:
            # the key selects a stored value; only the receiver (and a default) flow out
            return self._first([call.func.value, *call.args[1:]], depth)
        arguments: list[ast.expr] = [*call.args, *(k.value for k in call.keywords)]
        if isinstance(call.func, ast.Attribute):
            arguments.insert(0, call.func.value)  # the receiver: ``tainted.strip()``
        return self._first(arguments, depth)

    def _helper(
        self, helper: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call, depth: int
    ) -> Source | None:
        """A call of a function defined in this module: tainted when an argument flows to
        its return value (per the function's summary)."""
        for position in _returned_parameters(helper, self.ctx, self.sanitizers):
            argument = _argument_for(helper, call, position)
            found = self.trace(argument, depth + 1)
            if found is not None:
                return found
        return _returned_source(helper, self.ctx, self.sanitizers, self.web_only)


def _returned_source(
    helper: ast.FunctionDef | ast.AsyncFunctionDef,
    ctx: PythonContext,
    sanitizers: frozenset[str],
    web_only: bool,
) -> Source | None:
    """External data a helper reads itself and returns (``def next_url(): return
    request.args.get("next")``), computed once per helper and sink kind."""
    key = (id(helper), sanitizers, web_only)
    summaries: dict[object, Source | None] = ctx.module_state.setdefault("taint:reads", {})
    if key in summaries:
        return summaries[key]
    summaries[key] = None  # recursion guard
    returns = [
        node.value
        for node in _own_nodes(helper, ctx)
        if isinstance(node, ast.Return) and node.value is not None
    ]
    found: Source | None = None
    if returns:
        saved = ctx.function
        try:
            ctx.function = _synthetic_scope((helper,), None, ctx)
            tracer = _Tracer(ctx, sanitizers, web_only)
            for value in returns:
                found = tracer.run(value)
                if found is not None:
                    found = f"{found} (read by `{helper.name}()`)"
                    break
        finally:
            ctx.function = saved
    summaries[key] = found
    return found


def tainted(
    expr: ast.AST | None,
    ctx: PythonContext,
    *,
    sanitizers: frozenset[str] = frozenset(),
    web_only: bool = False,
) -> Source | None:
    """Where the data ``expr`` carries comes from, when it comes from outside the process;
    None when it is constant, derived only from trusted values, or sanitised on the way.

    ``sanitizers``: extra callee names or method names that clean the value for this sink,
    qualified attribute reads (``pathlib.Path.name``), indexed call results
    (``os.path.splitext[1]``), request attributes that are harmless here (``request.url``)
    and the check markers (``PATH_CONTAINMENT_CHECK``...).
    ``web_only``: only request data and handler parameters count (not network/cache/messages).
    """
    return _Tracer(ctx, sanitizers, web_only).run(expr)


def external_source(expr: ast.AST | None, ctx: PythonContext) -> Source | None:
    """Any data from outside the process -- requests, network, caches, messages."""
    return tainted(expr, ctx)


# -- sinks in helper functions ------------------------------------------------------------------


@dataclass(slots=True)
class _PendingSink:
    ctx: PythonContext
    function: ast.FunctionDef | ast.AsyncFunctionDef
    positions: frozenset[int]
    report: Report
    sanitizers: frozenset[str]
    web_only: bool


def sink_flow(
    values: Iterable[ast.AST | None],
    ctx: PythonContext,
    report: Report,
    *,
    sanitizers: frozenset[str] = frozenset(),
    web_only: bool = False,
) -> bool:
    """Report a sink reached by external data: ``report(source)`` is called now when one of
    ``values`` is tainted here (returns True). When they only derive from parameters of the
    enclosing module-level helper (``def find_user(name): cur.execute(f"...{name}")``), the
    sink is remembered, and :func:`report_deferred` -- which the rule calls from its
    ``ModuleEnd`` -- reports it if a function of the module passes external data to it (up
    to two helpers deep)."""
    candidates = [value for value in values if value is not None]
    for value in candidates:
        source = tainted(value, ctx, sanitizers=sanitizers, web_only=web_only)
        if source is not None:
            report(source)
            return True
    helper = _enclosing_helper(ctx)
    if helper is None or ctx.rule is None:
        return False
    tracer = _Tracer(ctx, sanitizers, web_only, params=_positional(helper))
    for value in candidates:
        tracer.run(value)
    if tracer.reached:
        pending: dict[str, list[_PendingSink]] = ctx.module_state.setdefault("taint:pending", {})
        pending.setdefault(ctx.rule.code, []).append(
            _PendingSink(ctx, helper, frozenset(tracer.reached), report, sanitizers, web_only)
        )
    return False


def report_deferred(ctx: PythonContext) -> None:
    """Report the running rule's sinks in helpers that a caller in this module feeds with
    external data (see :func:`sink_flow`). Call it from the rule's ``ModuleEnd``."""
    pending: dict[str, list[_PendingSink]] = ctx.module_state.get("taint:pending", {})
    if ctx.rule is None or not pending.get(ctx.rule.code):
        return
    saved = ctx.function
    try:
        for sink in pending.pop(ctx.rule.code):
            source = _from_callers(sink, sink.function, sink.positions, 0, set())
            if source is not None:
                sink.report(source)
    finally:
        ctx.function = saved


def _from_callers(
    sink: _PendingSink,
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    positions: frozenset[int],
    depth: int,
    seen: set[int],
) -> Source | None:
    ctx = sink.ctx
    seen.add(id(function))
    for call, chain in _call_sites(ctx).get(function.name, []):
        if not chain or any(node is function for node in chain):
            continue  # a module-level call, or recursion
        scope = _synthetic_scope(chain, call, ctx)
        if scope is None:
            continue
        ctx.function = scope
        caller = _enclosing_helper(ctx) if depth < 2 else None
        params = _positional(caller) if caller is not None else None
        tracer = _Tracer(ctx, sink.sanitizers, sink.web_only, params=params)
        for position in sorted(positions):
            found = tracer.run(_argument_for(function, call, position))
            if found is not None:
                return f"{found}, passed to `{function.name}()` on line {call.lineno}"
        if caller is not None and tracer.reached and id(caller) not in seen:
            found = _from_callers(sink, caller, frozenset(tracer.reached), depth + 1, seen)
            if found is not None:
                return f"{found}, passed to `{function.name}()` on line {call.lineno}"
    return None


def _positional(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, int]:
    names = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    return {name: position for position, name in enumerate(names)}


def _enclosing_helper(ctx: PythonContext) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The enclosing function when it is a module-level function that is not an HTTP handler:
    its callers in the module choose its arguments."""
    scope = ctx.function
    if scope is None or scope.parent is not None or scope.class_info is not None:
        return None
    if _client_route(scope, ctx) is not None or not _positional(scope.node):
        return None
    if module_functions(ctx).get(scope.node.name) is not scope.node:
        return None
    return scope.node


def _call_sites(
    ctx: PythonContext,
) -> dict[str, list[tuple[ast.Call, tuple[ast.AST, ...]]]]:
    """Calls of plain names in the module, with the defs/classes around each."""
    cached: dict[str, list[tuple[ast.Call, tuple[ast.AST, ...]]]] | None = ctx.module_state.get(
        "taint:calls"
    )
    if cached is None:
        cached = {}
        stack: list[tuple[ast.AST, tuple[ast.AST, ...]]] = [
            (node, ()) for node in reversed(ctx.tree.body)
        ]
        while stack:
            node, chain = stack.pop()
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                cached.setdefault(node.func.id, []).append((node, chain))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                chain = (*chain, node)
            stack.extend((child, chain) for child in ast.iter_child_nodes(node))
        ctx.module_state["taint:calls"] = cached
    return cached


def _synthetic_scope(
    chain: tuple[ast.AST, ...], call: ast.AST | None, ctx: PythonContext
) -> Scope | None:
    """The walk state at ``call`` rebuilt after the walk: the functions around it, their
    routes, parameters and the local bindings made before the call."""
    scope: Scope | None = None
    class_info: ClassInfo | None = None
    for index, node in enumerate(chain):
        if isinstance(node, ast.ClassDef):
            bases = tuple(name for base in node.bases if (name := ctx.qualname(base)) is not None)
            class_info = ClassInfo(node=node, bases=bases)
            continue
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        following = chain[index + 1] if index + 1 < len(chain) else call
        limit = _position(following)
        route = next(
            (r for r in ctx.facts.routes if r.function == node.name and r.line == node.lineno),
            None,
        )
        inner = Scope(node=node, parent=scope, class_info=class_info, route=route)
        ctx.function = inner
        for arg in inner.params:
            annotation = arg.annotation
            inner.bindings[arg.arg] = ctx.qualname(annotation) if annotation is not None else None
        for name, entries in _bindings(node, ctx).items():
            before = [value for position, value in entries if limit is None or position < limit]
            if not before:
                continue
            inner.bindings[name] = None
            if isinstance(before[-1], ast.expr):
                inner.values[name] = before[-1]
                inner.bindings[name] = ctx.type_of(before[-1])
        scope = inner
        class_info = None
    return scope


# -- bindings and checks of one function -------------------------------------------------------

_ENTRY = object()  # no binding before: the value the function was called with
_UNKNOWN = object()  # a binding that is not data (an import, a def, ``except ... as``)
_Binding = ast.expr | object
_BindingMap = dict[str, list[tuple[tuple[int, int], _Binding]]]


def _position(node: ast.AST | None) -> tuple[int, int] | None:
    line = getattr(node, "lineno", None)
    if line is None:
        return None
    return (line, getattr(node, "col_offset", 0))


def _before(node: ast.AST, limit: tuple[int, int]) -> bool:
    position = _position(node)
    return position is None or position < limit


def _bindings(function: ast.AST, ctx: PythonContext) -> _BindingMap:
    """Every binding of a name in a function's own body, in source order: the value bound
    (for loops: the iterable, ``with``: the context manager) or ``_UNKNOWN``."""
    cache: dict[int, _BindingMap] = ctx.module_state.setdefault("taint:bindings", {})
    cached = cache.get(id(function))
    if cached is not None:
        return cached
    found: _BindingMap = {}

    def bind(target: ast.AST, value: _Binding, at: ast.AST) -> None:
        position = _position(value if isinstance(value, ast.expr) else at) or (0, 0)
        if isinstance(target, ast.Name):
            found.setdefault(target.id, []).append((position, value))
        elif isinstance(target, ast.Tuple | ast.List):
            elements = value.elts if isinstance(value, ast.Tuple | ast.List) else None
            if elements is not None and len(elements) == len(target.elts):
                for element, item in zip(target.elts, elements, strict=True):
                    bind(element, item, at)
            else:
                for element in target.elts:
                    bind(element, _UNKNOWN, at)
        elif isinstance(target, ast.Starred):
            bind(target.value, _UNKNOWN, at)

    for node in _own_nodes(function, ctx):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                bind(target, node.value, node)
        elif isinstance(node, ast.AnnAssign | ast.NamedExpr) and node.value is not None:
            bind(node.target, node.value, node)
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            targets = node.target.elts if isinstance(node.target, ast.Tuple) else [node.target]
            for target in targets:
                bind(target, node.iter, node)  # an element of the iterable
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            bind(node.optional_vars, node.context_expr, node.context_expr)
        elif isinstance(node, ast.ExceptHandler | ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name:
                found.setdefault(node.name, []).append((_position(node) or (0, 0), _UNKNOWN))
        elif isinstance(node, ast.ClassDef):
            found.setdefault(node.name, []).append((_position(node) or (0, 0), _UNKNOWN))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                found.setdefault(bound, []).append((_position(node) or (0, 0), _UNKNOWN))
    for entries in found.values():
        entries.sort(key=lambda entry: entry[0])
    cache[id(function)] = found
    return found


def _binding_before(
    function: ast.AST, name: str, limit: tuple[int, int] | None, ctx: PythonContext
) -> _Binding:
    """The value ``name`` was last bound to before ``limit`` in ``function`` (``_ENTRY``: not
    bound yet -- a parameter's value on entry)."""
    entries = _bindings(function, ctx).get(name, [])
    before = [value for position, value in entries if limit is None or position < limit]
    return before[-1] if before else _ENTRY


def _segment_parameter(name: str, ctx: PythonContext) -> bool:
    """A route parameter matched as one path segment: it cannot contain ``/``."""
    route = ctx.route
    path = route.path if route is not None else None
    if not path:
        return False
    if f"{{{name}}}" in path or f"<{name}>" in path:
        return True
    return f"<string:{name}>" in path or re.search(rf"<string\([^)]*\):{name}>", path) is not None


def _guards(function: ast.AST, ctx: PythonContext, sanitizers: frozenset[str]) -> frozenset[str]:
    """Names inspected by the checks the sink's markers ask for (path containment, URL host
    allow-lists, safe-redirect checks), with the names their values were built from. (A plain
    allow-list check, ``if mode not in ALLOWED: abort(400)``, sanitises for every sink, but
    only where it holds: :func:`prodready.engine.allowlist.allow_listed`.)"""
    markers = sanitizers & _GUARD_MARKERS
    if not markers:
        return frozenset()
    cache: dict[object, frozenset[str]] = ctx.module_state.setdefault("taint:guards", {})
    key = (id(function), markers)
    cached = cache.get(key)
    if cached is not None:
        return cached
    bindings = _bindings(function, ctx)
    checked: list[ast.AST] = []
    for node in _own_nodes(function, ctx):
        if isinstance(node, ast.Compare):
            if _guarding_compare(node, markers, bindings, ctx):
                checked.append(node)
        elif isinstance(node, ast.Call):
            if _guarding_call(node, markers, bindings):
                func = node.func
                checked.append(func.value if isinstance(func, ast.Attribute) else node)
        elif isinstance(node, ast.If | ast.IfExp | ast.While | ast.Assert) and (
            SAFE_REDIRECT_CHECK in markers
        ):
            if _tests_host(node.test, bindings):
                checked.append(node.test)
            checked.extend(_validated(node.test))
    names: set[str] = set()
    for expr in checked:
        names |= _names_in(expr)
    result = frozenset(_built_from(names, bindings))
    cache[key] = result
    return result


def _allowed(function: ast.AST, ctx: PythonContext, sanitizers: frozenset[str]) -> AllowListed:
    """Where allow-list checks prove names safe. For a URL sink, checking the host of a URL
    against an allow-list proves the URL safe too (``if urlparse(url).hostname not in
    ALLOWED_HOSTS: abort(400)``, or through ``host = urlparse(url).hostname``)."""
    if URL_HOST_CHECK not in sanitizers:
        return allow_listed(function, ctx)
    bindings = _bindings(function, ctx)

    def checked_host(subject: ast.expr) -> frozenset[str]:
        if not _hostish(subject, bindings):
            return frozenset({subject.id}) if isinstance(subject, ast.Name) else frozenset()
        return frozenset(_built_from(_names_in(subject), bindings))

    return allow_listed(function, ctx, checked_host, kind=URL_HOST_CHECK)


_PREDICATE_PREFIXES = ("is_", "check_", "validate", "valid_", "has_valid", "allowed_")


def _validated(test: ast.AST) -> list[ast.AST]:
    """Arguments of predicates a condition calls: ``if check_for_language(code):``."""
    found: list[ast.AST] = []
    for node in ast.walk(test):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.startswith(_PREDICATE_PREFIXES):
                found.extend(arg for arg in node.args if isinstance(arg, ast.Name))
    return found


def _guarding_call(call: ast.Call, markers: frozenset[str], bindings: _BindingMap) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute):
        receiver = func.value
        constants = [a.value for a in call.args if isinstance(a, ast.Constant)]
        for argument in call.args:
            if isinstance(argument, ast.Tuple):
                constants.extend(e.value for e in argument.elts if isinstance(e, ast.Constant))
        texts = [c for c in constants if isinstance(c, str)]
        if PATH_CONTAINMENT_CHECK in markers:
            if func.attr in {"is_relative_to", "relative_to"}:
                return True
            if func.attr == "startswith" and _resolves_path(receiver, bindings):
                return True
        if func.attr == "startswith" and (
            (SAFE_REDIRECT_CHECK in markers and any(text.startswith("//") for text in texts))
            or (URL_HOST_CHECK in markers and any(_FIXED_HOST_PREFIX.match(t) for t in texts))
        ):
            return True
        if func.attr == "endswith" and URL_HOST_CHECK in markers and _hostish(receiver, bindings):
            return True
    if URL_HOST_CHECK in markers or SAFE_REDIRECT_CHECK in markers:
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if _URL_CHECK_FUNCTION.search(name) and (call.args or call.keywords):
            return True
    return False


def _guarding_compare(
    node: ast.Compare, markers: frozenset[str], bindings: _BindingMap, ctx: PythonContext
) -> bool:
    operands = [node.left, *node.comparators]
    if PATH_CONTAINMENT_CHECK in markers:
        if isinstance(node.left, ast.Constant) and node.left.value in {"..", "/", "\\"}:
            return isinstance(node.ops[0], ast.In | ast.NotIn)
        if any(_calls_named(operand, {"commonpath"}) for operand in operands):
            return True
        if any(isinstance(op, ast.In | ast.NotIn) for op in node.ops) and any(
            isinstance(c, ast.Attribute) and c.attr == "parents" for c in node.comparators
        ):
            return True
    if URL_HOST_CHECK in markers or SAFE_REDIRECT_CHECK in markers:
        if not any(isinstance(op, ast.In | ast.NotIn | ast.Eq | ast.NotEq) for op in node.ops):
            return False
        hosts = [operand for operand in operands if _hostish(operand, bindings)]
        others = [operand for operand in operands if not _hostish(operand, bindings)]
        if hosts and others:
            if SAFE_REDIRECT_CHECK in markers:
                return True
            if any(isinstance(op, ast.In | ast.NotIn) for op in node.ops) and len(node.ops) == 1:
                return False  # a host allow-list holds only where it is true: see _allowed()
            return all(_constant_like(other, ctx) for other in others)
    return False


def _constant_like(expr: ast.AST, ctx: PythonContext) -> bool:
    if isinstance(expr, ast.Constant):
        return True
    if _constant_collection(expr, ctx):
        return True
    name = dotted(expr)
    return name is not None and name.rsplit(".", 1)[-1].lstrip("_").isupper()


def _tests_host(test: ast.AST, bindings: _BindingMap) -> bool:
    """``if urlparse(url).netloc:``/``if not parsed.scheme``: a relative-URL check."""
    return any(
        isinstance(node, ast.Attribute)
        and node.attr in {"netloc", "scheme", "hostname"}
        and _parses_url(node.value, bindings)
        for node in ast.walk(test)
    )


def _hostish(expr: ast.AST, bindings: _BindingMap) -> bool:
    """The expression reads the host of a parsed URL (``urlparse(u).hostname``, ``p.netloc``,
    or a name bound to one)."""
    for node in ast.walk(expr):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in _HOST_ATTRIBUTES
            and _parses_url(node.value, bindings)
        ):
            return True
        if isinstance(node, ast.Name):
            for value in _bound_values(bindings, node.id):
                if any(
                    isinstance(inner, ast.Attribute)
                    and inner.attr in _HOST_ATTRIBUTES
                    and _parses_url(inner.value, bindings)
                    for inner in ast.walk(value)
                ):
                    return True
    return False


def _bound_values(bindings: _BindingMap, name: str) -> list[ast.expr]:
    return [value for _, value in bindings.get(name, []) if isinstance(value, ast.expr)]


def _parses_url(expr: ast.AST, bindings: _BindingMap) -> bool:
    names = {"urlparse", "urlsplit", "URL", "urllib3.util.parse_url", "parse_url"}
    if _calls_named(expr, names):
        return True
    if isinstance(expr, ast.Name):
        return any(_calls_named(value, names) for value in _bound_values(bindings, expr.id))
    return False


def _resolves_path(expr: ast.AST, bindings: _BindingMap) -> bool:
    if _calls_named(expr, _RESOLVING_CALLS):
        return True
    for node in ast.walk(expr):
        if isinstance(node, ast.Name):
            for value in _bound_values(bindings, node.id):
                if _calls_named(value, _RESOLVING_CALLS):
                    return True
    return False


def _calls_named(expr: ast.AST, names: set[str] | frozenset[str]) -> bool:
    for node in ast.walk(expr):
        if isinstance(node, ast.Call):
            func = node.func
            last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if last in names:
                return True
    return False


def _names_in(expr: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(expr) if isinstance(node, ast.Name)}


def _built_from(names: set[str], bindings: _BindingMap) -> set[str]:
    """The names plus those their values (in this function) were built from."""
    result = set(names)
    pending = list(names)
    while pending:
        name = pending.pop()
        for value in _bound_values(bindings, name):
            for inner in _names_in(value):
                if inner not in result:
                    result.add(inner)
                    pending.append(inner)
    return result


def _constant_collection(expr: ast.AST, ctx: PythonContext) -> bool:
    if isinstance(expr, ast.Tuple | ast.List | ast.Set):
        return all(isinstance(e, ast.Constant) for e in expr.elts)
    if isinstance(expr, ast.Dict):
        return all(isinstance(k, ast.Constant) for k in expr.keys)
    name = dotted(expr)
    if name is None:
        return False
    last = name.rsplit(".", 1)[-1]
    return last.isupper() or last.lstrip("_").isupper()


def _returned_parameters(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    ctx: PythonContext,
    sanitizers: frozenset[str],
) -> list[int]:
    """Positions of the parameters whose value can reach the function's return value.

    Computed once per function (and sanitiser set) by following the function's own
    assignments backwards from its ``return`` statements; names the function checks (an
    allow-list, or the checks the sink's markers ask for) do not flow.
    """
    key = ("taint:summary", id(function), sanitizers)
    summaries: dict[object, list[int]] = ctx.module_state.setdefault("taint:summaries", {})
    if key in summaries:
        return summaries[key]
    summaries[key] = []  # recursion guard
    params = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    guarded = _guards(function, ctx, sanitizers)
    allowed = _allowed(function, ctx, sanitizers)
    flow = function_flow(function, ctx)
    reached: set[str] = set()
    pending = list(flow.returns)
    seen: set[int] = set()
    while pending:
        expr = pending.pop()
        if id(expr) in seen:
            continue
        seen.add(id(expr))
        for use in _names_through(expr, ctx, sanitizers):
            name = use.id
            if name in guarded or is_allow_listed(use, allowed):
                continue
            if name in params:
                reached.add(name)
            pending.extend(flow.assigned.get(name, ()))
            pending.extend(flow.augmented.get(name, ()))
    result = [position for position, name in enumerate(params) if name in reached]
    summaries[key] = result
    return result


def _own_nodes(function: ast.AST, ctx: PythonContext) -> list[ast.AST]:
    """The nodes of a function body, not of the functions nested in it (once per function)."""
    cache: dict[int, list[ast.AST]] = ctx.module_state.setdefault("taint:own-nodes", {})
    cached = cache.get(id(function))
    if cached is not None:
        return cached
    found: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        found.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(node))
    cache[id(function)] = found
    return found


def _names_through(expr: ast.AST, ctx: PythonContext, sanitizers: frozenset[str]) -> list[ast.Name]:
    """The uses of names whose value can flow into ``expr`` (not through sanitising calls,
    lookups by key or comparisons)."""
    names: list[ast.Name] = []
    stack: list[ast.AST] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            names.append(node)
            continue
        if isinstance(node, ast.Compare | ast.Lambda | ast.Constant):
            continue
        if isinstance(node, ast.Subscript):
            stack.append(node.value)  # the key selects; the container's values flow
            continue
        if isinstance(node, ast.Attribute) and sanitizers and ctx.qualname(node) in sanitizers:
            continue
        if isinstance(node, ast.Call):
            callee = dotted(node.func) or ""
            qualified = ctx.qualname(node.func) or callee
            if qualified in VALUE_SANITIZERS or qualified in sanitizers:
                continue
            if qualified.startswith(_HASH_PREFIXES) or qualified in _LOOKUP_FUNCTIONS:
                continue
            if isinstance(node.func, ast.Attribute):
                method = node.func.attr
                if method in _NEUTRAL_METHODS or method in sanitizers:
                    continue
                if method in _LOOKUP_METHODS:
                    stack.append(node.func.value)
                    stack.extend(node.args[1:])
                    continue
        stack.extend(ast.iter_child_nodes(node))
    return names


def _argument_for(
    function: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call, position: int
) -> ast.expr | None:
    params = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    if position < len(call.args) and not isinstance(call.args[position], ast.Starred):
        return call.args[position]
    for item in call.keywords:
        if item.arg == params[position]:
            return item.value
    return None
