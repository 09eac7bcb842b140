"""Intra-procedural taint tracking: does a value carry data from outside the process?

Sources: request data (Flask/Quart ``request.*``, Django/DRF ``request.GET/POST/body/FILES/
data``, Starlette/FastAPI ``request.query_params/json()/body()``...), the parameters of an HTTP
handler the client chooses (FastAPI path/query/body parameters, Django URL kwargs, Flask
``<param>``), and -- for second-order flows -- network responses, socket reads, cache/Redis reads
and message payloads. ``sys.argv`` and environment variables are not sources: the operator
controls them, not the client.

Propagation follows local assignments (``ctx.value_of``), f-strings, ``%``, ``.format``,
concatenation, ``join``, string methods, containers, and calls of *helper functions defined in
the same module* whose return value depends on a tainted argument. Sanitisers stop the flow:
conversions to numbers, booleans, UUIDs and dates everywhere, plus the sink-specific ones a rule
passes (``shlex.quote`` for commands, ``secure_filename`` for paths...), and allow-lists:
a name checked with ``in``/``not in`` against a constant collection in the same function.
"""

from __future__ import annotations

import ast

from prodready.engine.analysis import dotted
from prodready.engine.python import PythonContext

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
    (``Depends(...)``) or a value validated into a number, UUID or date."""
    scope = ctx.function
    if scope is None or scope.route is None or name in scope.values:
        return False
    found = _parameter(scope.node, name)
    if found is None or name in {"self", "cls"}:
        return False
    arg, default = found
    if isinstance(default, ast.Call):
        called = dotted(default.func) or ""
        if called.rsplit(".", 1)[-1] in _DEPENDENCY_DEFAULTS:
            return False
    words = _annotation_words(arg.annotation)
    if words & _SAFE_PARAM_TYPES or any(w.endswith(_REQUEST_TYPE_SUFFIXES) for w in words):
        return False
    path = scope.route.path or ""
    if any(f"<{converter}:{name}>" in path for converter in ("int", "float", "uuid")):
        return False  # Flask/Werkzeug converters only let numbers/UUIDs through
    return not is_request_object(name, ctx)


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
# Hash constructors: a digest of tainted data is not the data.
_HASH_PREFIXES = ("hashlib.", "hmac.")
MAX_DEPTH = 10
Source = str  # a one-line description of where the data comes from


class _Tracer:
    def __init__(self, ctx: PythonContext, sanitizers: frozenset[str], web_only: bool) -> None:
        self.ctx = ctx
        self.sanitizers = sanitizers
        self.web_only = web_only
        self.allow_listed = _allow_listed(ctx)
        self.visiting: set[int] = set()

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
        direct = _direct_source(expr, ctx)
        if direct is not None:
            if self.web_only and not direct.startswith(("request", "route")):
                return None
            if isinstance(expr, ast.Name) and expr.id in self.allow_listed:
                return None
            return direct
        if isinstance(expr, ast.Name):
            if expr.id in self.allow_listed:
                return None
            return self.trace(ctx.value_of(expr.id), depth + 1)
        if isinstance(expr, ast.Call):
            return self._call(expr, depth)
        if isinstance(expr, ast.Attribute | ast.Subscript | ast.Await | ast.Starred):
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
        if callee in VALUE_SANITIZERS or callee in self.sanitizers:
            return None
        if callee.startswith(_HASH_PREFIXES):
            return None
        method = call.func.attr if isinstance(call.func, ast.Attribute) else None
        if method is not None and (method in _NEUTRAL_METHODS or method in self.sanitizers):
            return None
        helper = _module_function(call, ctx)
        if helper is not None:
            return self._helper(helper, call, depth)
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
        return None


def tainted(
    expr: ast.AST | None,
    ctx: PythonContext,
    *,
    sanitizers: frozenset[str] = frozenset(),
    web_only: bool = False,
) -> Source | None:
    """Where the data ``expr`` carries comes from, when it comes from outside the process;
    None when it is constant, derived only from trusted values, or sanitised on the way.

    ``sanitizers``: extra callee names or method names that clean the value for this sink.
    ``web_only``: only request data and handler parameters count (not network/cache/messages).
    """
    return _Tracer(ctx, sanitizers, web_only).trace(expr)


def external_source(expr: ast.AST | None, ctx: PythonContext) -> Source | None:
    """Any data from outside the process -- requests, network, caches, messages."""
    return tainted(expr, ctx)


def _allow_listed(ctx: PythonContext) -> frozenset[str]:
    """Names the enclosing function checks against a constant collection (``if mode not in
    ALLOWED: abort(400)``): their values are among known constants afterwards."""
    scope = ctx.function
    if scope is None:
        return frozenset()
    cached = scope.state.get("taint:allow-listed")
    if cached is None:
        names: set[str] = set()
        for node in ast.walk(scope.node):
            if (
                isinstance(node, ast.Compare)
                and isinstance(node.left, ast.Name)
                and len(node.ops) == 1
                and isinstance(node.ops[0], ast.In | ast.NotIn)
                and _constant_collection(node.comparators[0], ctx)
            ):
                names.add(node.left.id)
        cached = scope.state["taint:allow-listed"] = frozenset(names)
    return frozenset(cached)


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


def _module_function(
    call: ast.Call, ctx: PythonContext
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    if not isinstance(call.func, ast.Name):
        return None
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] | None = ctx.module_state.get(
        "taint:functions"
    )
    if functions is None:
        functions = {
            node.name: node
            for node in ctx.tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        ctx.module_state["taint:functions"] = functions
    if ctx.resolve_name(call.func.id) != call.func.id:
        return None  # imported or shadowed: not this module's function
    return functions.get(call.func.id)


def _returned_parameters(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    ctx: PythonContext,
    sanitizers: frozenset[str],
) -> list[int]:
    """Positions of the parameters whose value can reach the function's return value.

    Computed once per function (and sanitiser set) by following the function's own
    assignments backwards from its ``return`` statements.
    """
    key = ("taint:summary", id(function), sanitizers)
    summaries: dict[object, list[int]] = ctx.module_state.setdefault("taint:summaries", {})
    if key in summaries:
        return summaries[key]
    summaries[key] = []  # recursion guard
    params = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    assigned: dict[str, list[ast.expr]] = {}
    returns: list[ast.expr] = []
    for node in _own_nodes(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            assigned.setdefault(node.target.id, []).append(node.value)
        elif isinstance(node, ast.Return) and node.value is not None:
            returns.append(node.value)
    reached: set[str] = set()
    pending = list(returns)
    seen: set[int] = set()
    while pending:
        expr = pending.pop()
        if id(expr) in seen:
            continue
        seen.add(id(expr))
        for name in _names_through(expr, ctx, sanitizers):
            if name in params:
                reached.add(name)
            pending.extend(assigned.get(name, []))
    result = [position for position, name in enumerate(params) if name in reached]
    summaries[key] = result
    return result


def _own_nodes(function: ast.AST) -> list[ast.AST]:
    """The nodes of a function body, not of the functions nested in it."""
    found: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        found.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(node))
    return found


def _names_through(expr: ast.AST, ctx: PythonContext, sanitizers: frozenset[str]) -> set[str]:
    """Names whose value can flow into ``expr`` (not through sanitising calls)."""
    names: set[str] = set()
    stack: list[ast.AST] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            names.add(node.id)
            continue
        if isinstance(node, ast.Compare | ast.Lambda | ast.Constant):
            continue
        if isinstance(node, ast.Call):
            callee = dotted(node.func) or ""
            qualified = ctx.qualname(node.func) or callee
            if qualified in VALUE_SANITIZERS or qualified in sanitizers:
                continue
            if qualified.startswith(_HASH_PREFIXES):
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
