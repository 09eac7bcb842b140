"""API001: the raw client payloads besides the request body itself.

A handler receives free-form JSON in more shapes than ``request.get_json()``: a JSON document
inside a form field or a query parameter (``json.loads(request.POST.get("signers"))``,
``json.loads(request.args["filters"])``), the body read as text first
(``json.loads(await request.text())``), and the frames of a websocket -- Starlette/FastAPI
``await websocket.receive_json()`` or ``json.loads(await websocket.receive_text())``, aiohttp
``msg.json()`` / ``json.loads(msg.data)`` for the messages of a ``WebSocketResponse``, Django
Channels ``json.loads(text_data)`` in a consumer's ``receive()`` and the ``content`` a
``JsonWebsocketConsumer.receive_json()`` is handed. Each is a dict the client shaped: indexing
it without a check turns a missing key into a crash of the handler (a 500, or a websocket
closed for every message after it).
"""

from __future__ import annotations

import ast

from prodready.plugin import Confidence, PythonContext, Scope, Severity
from prodready.plugin.analysis import dotted, module_function
from prodready.plugin.taint import is_request_object, tainted

_WEBSOCKET_JSON = frozenset({"receive_json"})
_WEBSOCKET_TEXT = frozenset({"receive_text", "receive_bytes", "receive_str"})
_CHANNELS_CONSUMERS = ("WebsocketConsumer", "JsonWebsocketConsumer")
_AIOHTTP_SOCKETS = frozenset({"aiohttp.web.WebSocketResponse", "aiohttp.web_ws.WebSocketResponse"})


def consumer_scope(scope: Scope | None) -> bool:
    """A method of a Django Channels websocket consumer that receives the client's frames
    (``receive``/``receive_json``): a handler without a route."""
    if scope is None or scope.node.name not in {"receive", "receive_json"}:
        return False
    owner = scope.class_info
    return owner is not None and any(base.endswith(_CHANNELS_CONSUMERS) for base in owner.bases)


def _websocket(expr: ast.AST, ctx: PythonContext) -> bool:
    """The handler's websocket: a parameter typed ``WebSocket`` (or named like one), or a local
    ``web.WebSocketResponse()``."""
    if not isinstance(expr, ast.Name):
        return False
    if "socket" in expr.id.lower() or expr.id == "ws":
        if is_request_object(expr.id, ctx):
            return True
        value = ctx.value_of(expr.id)
        if isinstance(value, ast.Call) and ctx.qualname(value.func) in _AIOHTTP_SOCKETS:
            return True
        return expr.id in {"websocket", "ws"} and value is None and _parameter_of_scope(expr, ctx)
    return False


def _parameter_of_scope(name: ast.Name, ctx: PythonContext) -> bool:
    scope = ctx.function
    return scope is not None and any(param.arg == name.id for param in scope.params)


def _frame(expr: ast.AST, ctx: PythonContext) -> bool:
    """``await websocket.receive_text()`` (or a name bound to it), ``msg.data`` of an aiohttp
    socket's message, or a Channels consumer's ``text_data``."""
    if isinstance(expr, ast.Await):
        expr = expr.value
    if isinstance(expr, ast.Name):
        scope = ctx.function
        if consumer_scope(scope) and expr.id in {"text_data", "bytes_data"}:
            return True
        value = ctx.value_of(expr.id)
        return value is not None and value is not expr and _frame(value, ctx)
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr in _WEBSOCKET_TEXT
    ):
        return _websocket(expr.func.value, ctx)
    if isinstance(expr, ast.Attribute) and expr.attr == "data":
        return _socket_message(expr.value, ctx)
    return False


def _socket_message(expr: ast.AST, ctx: PythonContext) -> bool:
    """``msg`` in ``async for msg in ws`` where ``ws`` is the handler's aiohttp socket."""
    if not isinstance(expr, ast.Name):
        return False
    scope = ctx.function
    if scope is None:
        return False
    for node in ast.walk(scope.node):
        if (
            isinstance(node, ast.AsyncFor)
            and isinstance(node.target, ast.Name)
            and node.target.id == expr.id
            and _websocket(node.iter, ctx)
        ):
            return True
    return False


def frame_read(node: ast.AST, ctx: PythonContext) -> str | None:
    """What a websocket handler's read of a client frame is called in the message, or None:
    ``websocket.receive_json()``, ``msg.json()``, ``json.loads(<frame>)``."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if isinstance(func, ast.Attribute) and not node.args:
        if func.attr in _WEBSOCKET_JSON and _websocket(func.value, ctx):
            return "a websocket frame (receive_json())"
        if func.attr == "json" and _socket_message(func.value, ctx):
            return "a websocket frame (msg.json())"
        return None
    if node.args and _frame(node.args[0], ctx):
        return "a websocket frame (json.loads)"
    return None


def embedded_json(node: ast.Call, ctx: PythonContext) -> str | None:
    """``json.loads(...)`` of a value the client sends inside the request (a form field, a
    query parameter, the body read as text): the name the finding gives it."""
    if not node.args:
        return None
    argument = node.args[0]
    if isinstance(argument, ast.Constant):
        return None
    source = tainted(argument, ctx, web_only=True)
    if source is None:
        return None
    text = " ".join(ctx.segment(argument).split())
    if len(text) > 40:
        text = text[:37] + "..."
    return f"json.loads({text})"


def content_reads(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
    """In a Channels ``receive_json(self, content)``: the reads of ``content`` (the decoded
    frame it is handed) -- its subscripts and ``.get()`` calls."""
    params = [arg.arg for arg in function.args.args]
    if len(params) < 2:
        return []
    content = params[1]
    reads: list[ast.Name] = []
    for node in ast.walk(function):
        target = None
        if isinstance(node, ast.Subscript):
            target = node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"get", "pop"}
        ):
            target = node.func.value
        if isinstance(target, ast.Name) and target.id == content:
            reads.append(target)
    reads.sort(key=lambda item: (item.lineno, item.col_offset))
    return list(reads)


def is_request_body(expr: ast.AST, scope: Scope) -> bool:
    """``request.body`` (or ``self.request.body``) where ``request`` is the handler's request."""
    text = (
        dotted(expr.func.value)
        if isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr == "decode"
        else dotted(expr)
    )
    if text is None or not text.endswith(".body"):
        return False
    receiver = text[: -len(".body")]
    params = [param.arg for param in scope.params]
    return receiver in {"request", "self.request"} or (
        len(params) > 0 and receiver in params[:2] and "request" in receiver.lower()
    )


def untyped_request_json(node: ast.AST, ctx: PythonContext) -> bool:
    """``await request.json()`` on the handler's request parameter when its type is not
    declared (aiohttp handlers, unannotated Starlette endpoints)."""
    return (
        isinstance(node, ast.Call)
        and not node.args
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "json"
        and isinstance(node.func.value, ast.Name)
        and is_request_object(node.func.value.id, ctx)
    )


# What indexing and converting a malformed payload raise.
_FIELD_ERRORS = frozenset({"KeyError", "LookupError", "TypeError", "ValueError", "AttributeError"})


def answers_malformed(node: ast.Try, payload: set[str], read_ids: set[int]) -> bool:
    """``try: qty = int(body["quantity"]) except (KeyError, ValueError): return bad_request()``:
    the reads of the payload are guarded and a payload that does not fit gets an answer of its
    own (a return or a raise of something else), not a 500 -- a handler that only passes or
    re-raises answers nothing."""
    reads_payload = any(
        (isinstance(sub, ast.Name) and sub.id in payload) or id(sub) in read_ids
        for statement in node.body
        for sub in ast.walk(statement)
    )
    if not reads_payload:
        return False
    for handler in node.handlers:
        caught = handler.type
        names = caught.elts if isinstance(caught, ast.Tuple) else [caught] if caught else []
        if not any((dotted(name) or "").rpartition(".")[2] in _FIELD_ERRORS for name in names):
            continue
        for statement in handler.body:
            for sub in ast.walk(statement):
                if isinstance(sub, ast.Return) or (isinstance(sub, ast.Raise) and sub.exc):
                    return True
    return False


def indexed(read: ast.AST, function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """The handler indexes what ``read`` decoded -- ``data["k"]``, ``data.get("k")``, or an
    element of it (``for signer in data: signer["email"]``) -- rather than handing the whole
    document on (``cart["widget"] = json.loads(...)``, ``items += json.loads(...)``)."""
    names: set[str] = set()
    nodes = list(ast.walk(function))
    for _ in range(3):
        before = len(names)
        for node in nodes:
            if isinstance(node, ast.Assign) and _holds(node.value, read, names):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension) and _holds(
                node.iter, read, names
            ):
                names.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
        if len(names) == before:
            break
    for node in nodes:
        receiver = None
        if isinstance(node, ast.Subscript):
            receiver = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = node.func.value if node.func.attr in {"get", "pop"} else None
        if receiver is not None and (
            receiver is read or (isinstance(receiver, ast.Name) and receiver.id in names)
        ):
            return True
    return False


def _holds(value: ast.AST, read: ast.AST, names: set[str]) -> bool:
    """``value`` is the decoded document or a part of it (not something computed from it)."""
    while isinstance(value, ast.Subscript | ast.Await):
        value = value.value
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr in {"get", "pop", "items", "values"}
    ):
        value = value.func.value
    return value is read or (isinstance(value, ast.Name) and value.id in names)


def signed_body(function: ast.AST, read: ast.AST, ctx: PythonContext) -> bool:
    """``json.loads(body)`` after ``check(body, signature)``, where ``check`` is a function of
    the module that compares an HMAC of what it is given (``hmac.compare_digest``)."""
    if _inline_signature_check(function, read):
        return True
    if not isinstance(read, ast.Call) or not read.args:
        return False
    body = read.args[0]
    if not isinstance(body, ast.Name):
        return False
    for node in ast.walk(function):
        if not isinstance(node, ast.Call) or node.lineno >= read.lineno:
            continue
        if not any(isinstance(a, ast.Name) and a.id == body.id for a in node.args):
            continue
        helper = module_function(node, ctx)
        if helper is not None and any(
            isinstance(inner, ast.Call)
            and (dotted(inner.func) or "").rpartition(".")[2] == "compare_digest"
            for inner in ast.walk(helper)
        ):
            return True
    return False


# Reads of the raw request body: Flask get_data()/data, Django/Starlette body.
_RAW_BODY = frozenset({"get_data", "body", "data", "raw_body"})


def _inline_signature_check(function: ast.AST, read: ast.AST) -> bool:
    """The handler itself compares (``compare_digest``) an HMAC computed over the raw body
    (``hmac.new(key, request.get_data(), sha256)``) before it parses the body."""
    line = getattr(read, "lineno", 0)

    def raw(expr: ast.AST) -> bool:
        return any(
            (isinstance(inner, ast.Attribute) and inner.attr in _RAW_BODY)
            or (isinstance(inner, ast.Name) and inner.id in raw_names)
            for inner in ast.walk(expr)
        )

    raw_names: set[str] = set()  # ``payload = await request.body()``
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and node.lineno < line and raw(node.value):
            raw_names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    compared = hashed_body = False
    for node in ast.walk(function):
        if not isinstance(node, ast.Call) or node.lineno >= line:
            continue
        name = dotted(node.func) or ""
        if name.rpartition(".")[2] == "compare_digest":
            compared = True
        elif name in {"hmac.new", "hmac.HMAC", "hmac.digest"}:
            message = node.args[1:2] + [k.value for k in node.keywords if k.arg == "msg"]
            hashed_body = hashed_body or any(raw(argument) for argument in message)
    return compared and hashed_body


def report_signed_read(read: ast.AST, kind: str, ctx: PythonContext) -> None:
    """Evidence tier of API001: only the provider holding the key can send a body whose
    signature was checked first; the rule cannot tell how stable the provider's format is."""
    ctx.report(
        read,
        f"{kind} is parsed without a schema, after a signature check of the raw body: only the "
        "provider can send it, but a change of its format becomes a 500 instead of a 400. "
        "Parse it into a schema",
        severity=Severity.LOW,
        confidence=Confidence.LOW,
    )


def merged_document(
    reads: list[ast.AST], function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> bool:
    """Every read of the body is bound to a local that the handler only unpacks into a dict
    display (``stored = {**stored, **body}``) and never indexes: the body is kept as an opaque
    document (a preferences blob), so no key can be missing and nothing is splatted into a
    constructor's fields -- only a body that is not an object fails."""
    parents = ctx.parents()
    names: set[str] = set()
    for read in reads:
        holder = parents.get(id(read))
        if isinstance(holder, ast.Await):
            holder = parents.get(id(holder))
        if not (
            isinstance(holder, ast.Assign)
            and len(holder.targets) == 1
            and isinstance(holder.targets[0], ast.Name)
        ):
            return False
        if indexed(read, function):
            return False
        names.add(holder.targets[0].id)
    loads = [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.Name) and node.id in names and isinstance(node.ctx, ast.Load)
    ]
    for load in loads:
        display = parents.get(id(load))
        if not (
            isinstance(display, ast.Dict)
            and any(
                key is None and value is load
                for key, value in zip(display.keys, display.values, strict=True)
            )
            # stored as it is (``account.prefs = {...}``), not splatted on into a call
            and isinstance(parents.get(id(display)), ast.Assign)
        ):
            return False
    return bool(loads)


def report_merged_document(read: ast.AST, kind: str, ctx: PythonContext) -> None:
    """Evidence tier of API001: the body is stored whole as a free-form document."""
    ctx.report(
        read,
        f"{kind} is kept as a free-form document (unpacked into a dict, no key read): no field "
        "can be missing, but a body that is not a JSON object becomes a 500 instead of a 400 "
        "and its size and shape are unchecked -- reported low. Annotate it as dict[str, ...] "
        "or check isinstance(..., dict)",
        severity=Severity.LOW,
        confidence=Confidence.LOW,
    )
