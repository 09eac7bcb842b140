"""Security: the acting user named by the client, with no authentication (SEC047)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import constant_str, dotted, walk_nodes

# -- SEC047 ------------------------------------------------------------------------------------

# Names of the caller's own identity (who sends, posts, pays), not of a resource acted on.
_IDENTITY = re.compile(
    r"^(?:user_id|userid|uid|sender_id|sender|author_id|actor_id|from_user(?:_id)?"
    r"|current_user_id|my_user_id|me_id|member_id|requester_id|caller_id|acting_user_id)$",
    re.IGNORECASE,
)
_QUERY_READS = frozenset({"args", "GET", "query_params", "query", "rel_url"})
# Anything that may authenticate the caller.
_AUTHENTICATION = re.compile(
    r"auth|login|token|jwt|bearer|request\.session|\bsession\[|cookie|current_user"
    r"|request\.user|g\.user"
    r"|api_?key|signature|verify|credential|permission|oauth|principal|identity",
    re.IGNORECASE,
)
_ACTING_CALL = re.compile(
    r"save|create|insert|add|send|publish|post|update|delete|remove|join|subscribe|charge"
    r"|transfer|book|reserve|write|store|put|set|append|emit|broadcast|message|vote|like"
    r"|record|submit|enrol|enroll|assign|claim|redeem|pay\b|pay_|order|purchase|checkout|cancel",
    re.IGNORECASE,
)
_MODULE_AUTH = re.compile(
    r"add_middleware\(\s*[\w.]*(?:Auth|JWT|Token|Session|Login)|before_request"
    r"|AuthenticationMiddleware|login_manager|LoginManager|HTTPBearer|OAuth2PasswordBearer"
    r"|APIKeyHeader|APIKeyQuery|HTTPBasic\b|jwt_required|login_required",
)


def _defaults(
    node: ast.FunctionDef | ast.AsyncFunctionDef,
) -> list[tuple[ast.arg, ast.expr | None]]:
    """Each parameter with a default, paired with it."""
    positional = [*node.args.posonlyargs, *node.args.args]
    with_default = positional[len(positional) - len(node.args.defaults) :]
    pairs: list[tuple[ast.arg, ast.expr | None]] = list(
        zip(with_default, node.args.defaults, strict=True)
    )
    return pairs + list(zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True))


def _injected(default: ast.expr | None, ctx: PythonContext) -> bool:
    """A FastAPI parameter filled from elsewhere than the query string."""
    if not isinstance(default, ast.Call):
        return False
    name = (ctx.qualname(default.func) or dotted(default.func) or "").rsplit(".", 1)[-1]
    return name in {"Depends", "Security", "Header", "Body", "Path", "Cookie", "Form", "File"}


def _identity_values(
    node: ast.FunctionDef | ast.AsyncFunctionDef, path: str, ctx: PythonContext
) -> dict[str, ast.AST]:
    """Where the handler takes the caller's identity from the query string: a scalar
    parameter that is not in the route's path (FastAPI/Starlette query and WebSocket
    parameters), or ``request.args.get("user_id")`` and the like."""
    found: dict[str, ast.AST] = {}
    injected = {arg.arg for arg, default in _defaults(node) if _injected(default, ctx)}
    for arg in [*node.args.args, *node.args.kwonlyargs]:
        if not _IDENTITY.match(arg.arg) or re.search(rf"[{{<](?:\w+:)?{arg.arg}\b", path):
            continue  # /members/{member_id}, /members/<int:member_id>: a path parameter
        if arg.arg in injected:
            continue  # Depends(current_member), Header(), Body(): not the query string
        annotation = ctx.segment(arg.annotation) if arg.annotation is not None else ""
        if annotation and not re.fullmatch(
            r"(?:int|str|UUID|Optional\[\w+\]|\w+ \| None)", annotation
        ):
            continue  # a model, a dependency, Annotated[...]: not a bare query value
        found[arg.arg] = arg
    for child in ast.walk(node):
        if not (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)):
            continue
        if child.func.attr not in {"get", "getone", "get_one"} or not child.args:
            continue
        key = constant_str(child.args[0])
        owner = child.func.value
        if (
            key is not None
            and _IDENTITY.match(key)
            and isinstance(owner, ast.Attribute)
            and owner.attr in _QUERY_READS
        ):
            found.setdefault(key, child)
    return found


# A request header naming the caller (``X-User-Id``, ``X-Customer``, ``HTTP_X_STUDENT_ID``):
# a person's id the client may set to anything. Gateway-set identity headers
# (``X-Forwarded-User``, ``X-Auth-Request-User``, ``REMOTE_USER``) are not these names.
_IDENTITY_HEADER = re.compile(
    r"^(?:http_)?x_(?:user|customer|account|member|student|employee|patient|driver|rider"
    r"|actor|caller|requester|player|author|owner|staff|acting_user|current_user|uid)"
    r"(?:_id|_email|_name)?$",
    re.IGNORECASE,
)
_HEADER_INJECTORS = frozenset({"Header", "fastapi.Header", "fastapi.params.Header"})
_HEADER_READS = frozenset({"headers", "META"})


def _header_key(text: str) -> bool:
    return _IDENTITY_HEADER.match(text.strip().replace("-", "_")) is not None


def _header_identities(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> dict[str, ast.AST]:
    """Where a handler or a FastAPI dependency takes the caller's identity from a request
    header: ``x_user_id: int = Header(...)`` (FastAPI turns the name into ``X-User-Id``, or
    takes ``alias=``), ``request.headers.get("X-User-Id")`` (Flask, Starlette, aiohttp) or
    ``request.META["HTTP_X_USER_ID"]`` (Django)."""
    found: dict[str, ast.AST] = {}
    for arg, default in _defaults(node):
        if not (isinstance(default, ast.Call) and ctx.qualname(default.func) in _HEADER_INJECTORS):
            continue
        alias = next((constant_str(k.value) for k in default.keywords if k.arg == "alias"), None)
        if _header_key(alias or arg.arg):
            found[arg.arg] = arg
    for child in walk_nodes(node):
        key: str | None = None
        owner: ast.expr | None = None
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) and child.args:
            if child.func.attr in {"get", "getone", "get_one"}:
                key, owner = constant_str(child.args[0]), child.func.value
        elif isinstance(child, ast.Subscript):
            key, owner = constant_str(child.slice), child.value
        if (
            key is not None
            and isinstance(owner, ast.Attribute)
            and owner.attr in _HEADER_READS
            and _header_key(key)
        ):
            found.setdefault(key, child)
    return found


def _returns_any(node: ast.FunctionDef | ast.AsyncFunctionDef, names: set[str]) -> bool:
    """A dependency or helper that hands the identity back to its caller (``return
    x_user_id``, ``return db.get(User, uid)``)."""
    for child in ast.walk(node):
        if (
            isinstance(child, ast.Return)
            and child.value is not None
            and any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(child.value))
        ):
            return True
    return False


def _acts_as(node: ast.FunctionDef | ast.AsyncFunctionDef, names: set[str]) -> bool:
    """The identity is handed to a call that does something in the caller's name (saves a
    message, joins a channel, books, charges), not only looked up or logged."""
    for child in ast.walk(node):
        if not isinstance(child, ast.Call):
            continue
        callee = (dotted(child.func) or "").rsplit(".", 1)[-1]
        if not _ACTING_CALL.search(callee) or callee in {"print", "get", "setdefault"}:
            continue
        values = [*child.args, *(k.value for k in child.keywords)]
        if any(isinstance(v, ast.Name) and v.id in names for v in values):
            return True
    return False


@python_rule(
    code="SEC047",
    name="caller-identity-from-query",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    summary="Handler acts as whichever user id the client puts in the query string (no auth)",
    nodes=(ast.FunctionDef, ast.AsyncFunctionDef),
    cwe=287,
    fix="Authenticate the caller (a token or session checked by a dependency/decorator) and "
    "take the user id from it, never from the request parameters.",
)
def caller_identity_from_query(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags HTTP and WebSocket handlers (FastAPI, Starlette, Flask, aiohttp) that take the
    acting user's id from the query string -- a `user_id`/`sender_id`/`author_id` parameter
    that is not part of the path, or `request.args.get("user_id")` -- and act with it (save
    a message, join a channel, book, charge) when neither the handler nor its module
    authenticates anyone: no auth dependency or decorator, no token, session or cookie
    read, no authentication middleware or `before_request` hook.

    ## Why it breaks production
    The identity is whatever the client types: `?user_id=1` posts as the administrator,
    reads another user's channels, or spends someone else's balance. There is nothing to
    guess -- ids are small sequential numbers -- and nothing in the logs tells the forged
    requests from real ones (broken authentication, OWASP A07).

    ## Example
    ```python
    @app.websocket("/ws/{room}")
    async def chat(websocket: WebSocket, room: str, user_id: int):
        await websocket.accept()
        async for text in websocket.iter_text():
            await save_message(room, user_id, text)
    ```

    ## Use instead
    ```python
    @app.websocket("/ws/{room}")
    async def chat(websocket: WebSocket, room: str, user: User = Depends(user_from_token)):
        await websocket.accept()
        async for text in websocket.iter_text():
            await save_message(room, user.id, text)
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    scope = ctx.function
    route = scope.route if scope is not None else None
    if _header_identity(node, route, ctx) or route is None:
        return
    guards = " ".join([*route.decorators, *route.dependencies])
    text = "\n".join(ctx.segment(statement) for statement in node.body)
    signature = " ".join(ctx.segment(a) for a in [*node.args.defaults, *node.args.kw_defaults] if a)
    if _AUTHENTICATION.search(guards) or _AUTHENTICATION.search(text + signature):
        return
    identities = _identity_values(node, route.path or "", ctx)
    if _MODULE_AUTH.search(ctx.source):
        return
    if not identities:
        _body_identity(node, ctx)
        return
    names = set(identities)
    names |= {  # ``uid = request.args.get("user_id")``
        target.id
        for child in ast.walk(node)
        if isinstance(child, ast.Assign) and any(child.value is v for v in identities.values())
        for target in child.targets
        if isinstance(target, ast.Name)
    }
    if not _acts_as(node, names):
        return
    name, where = next(iter(identities.items()))
    ctx.report(
        where,
        f"{node.name}() acts as the user whose id the client puts in the query string "
        f"(`{name}`) and nothing authenticates the caller: anyone can send `{name}=1` and "
        "post, join or pay as that user. Authenticate the request and take the id from the "
        "verified token or session",
    )


def _header_identity(
    node: ast.FunctionDef | ast.AsyncFunctionDef, route: object, ctx: PythonContext
) -> bool:
    """Report a handler or dependency that takes the acting user from a request header and
    acts with it or hands it on; True when reported."""
    identities = _header_identities(node, ctx)
    if not identities or _MODULE_AUTH.search(ctx.source):
        return False
    text = "\n".join(ctx.segment(statement) for statement in node.body)
    guards = " ".join(ctx.segment(d) for d in node.decorator_list)
    if _AUTHENTICATION.search(guards + "\n" + _without_identity_reads(text, identities, ctx)):
        return False
    names = _bound_names(node, identities)
    if not (_acts_as(node, names) or (route is None and _returns_any(node, names))):
        return False
    name, where = next(iter(identities.items()))
    if isinstance(where, ast.arg):  # FastAPI sends x_user_id as the X-User-Id header
        name = "-".join(part.capitalize() for part in name.split("_"))
    ctx.report(
        where,
        f"{node.name}() takes the acting user from the `{name}` request header and nothing "
        "authenticates the caller: a header is whatever the client sends, so anyone can act "
        "as any user by setting it. Authenticate the request (a verified token or session) "
        "and take the user from it",
    )
    return True


def _without_identity_reads(text: str, identities: dict[str, ast.AST], ctx: PythonContext) -> str:
    """The handler's text without its identity-header reads (``request.headers.get`` is not
    itself a sign of authentication)."""
    for where in identities.values():
        if not isinstance(where, ast.arg):
            text = text.replace(ctx.segment(where), "")
    return text


def _bound_names(
    node: ast.FunctionDef | ast.AsyncFunctionDef, identities: dict[str, ast.AST]
) -> set[str]:
    names = {name for name, where in identities.items() if isinstance(where, ast.arg)}
    reads = [where for where in identities.values() if not isinstance(where, ast.arg)]
    assignments = [child for child in ast.walk(node) if isinstance(child, ast.Assign)]
    for _ in range(2):  # ``raw = headers.get(...)``, then ``uid = int(raw)``
        for child in assignments:
            inside = list(ast.walk(child.value))
            if any(read in inside for read in reads) or any(
                isinstance(n, ast.Name) and n.id in names for n in inside
            ):
                names |= {t.id for t in child.targets if isinstance(t, ast.Name)}
    return names


_BUILTIN_ANNOTATIONS = frozenset({"int", "str", "float", "bool", "dict", "list", "Any", "UUID"})


def _body_identity_reads(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> list[tuple[str, ast.AST]]:
    """Where the handler reads the caller's identity from the posted body: ``body["user_id"]``
    or ``body.get("sender_id")`` of the raw JSON/form, or ``order.user_id`` of a FastAPI body
    model parameter."""
    from prodready.rules.security.mass_assignment import _raw_body

    models = {
        arg.arg
        for arg in [*node.args.args, *node.args.kwonlyargs]
        if isinstance(arg.annotation, ast.Name | ast.Attribute)
        and (dotted(arg.annotation) or "").rsplit(".", 1)[-1] not in _BUILTIN_ANNOTATIONS
        and (dotted(arg.annotation) or "")[:1].isupper()
    }
    scope = ctx.function
    route = scope.route if scope is not None else None
    fastapi = route is not None and route.framework == "fastapi"
    # The rule runs at the def, before its scope is entered: the handler's own bindings.
    local = {
        target.id: child.value
        for child in ast.walk(node)
        if isinstance(child, ast.Assign)
        for target in child.targets
        if isinstance(target, ast.Name)
    }
    found: list[tuple[str, ast.AST]] = []
    for child in ast.walk(node):
        key: str | None = None
        owner: ast.expr | None = None
        if isinstance(child, ast.Subscript):
            key, owner = constant_str(child.slice), child.value
        elif (
            isinstance(child, ast.Call)
            and isinstance(child.func, ast.Attribute)
            and child.func.attr == "get"
            and child.args
        ):
            key, owner = constant_str(child.args[0]), child.func.value
        elif (
            fastapi
            and isinstance(child, ast.Attribute)
            and isinstance(child.value, ast.Name)
            and child.value.id in models
        ):
            if _IDENTITY.match(child.attr):
                found.append((child.attr, child))
            continue
        if key is None or owner is None or not _IDENTITY.match(key):
            continue
        bound = local.get(owner.id) if isinstance(owner, ast.Name) else None
        if _raw_body(owner, ctx) or (bound is not None and _raw_body(bound, ctx)):
            found.append((key, child))
    return found


def _body_identity(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> None:
    """Report a handler that acts as the user named by a field of the posted body."""
    reads = _body_identity_reads(node, ctx)
    if not reads:
        return
    texts = {ctx.segment(read) for _, read in reads}
    names = {
        target.id
        for child in ast.walk(node)
        if isinstance(child, ast.Assign) and ctx.segment(child.value) in texts
        for target in child.targets
        if isinstance(target, ast.Name)
    }
    for child in ast.walk(node):
        if not isinstance(child, ast.Call):
            continue
        callee = (dotted(child.func) or "").rsplit(".", 1)[-1]
        if not _ACTING_CALL.search(callee) or callee in {"print", "get", "setdefault"}:
            continue
        for value in [*child.args, *(k.value for k in child.keywords)]:
            if (isinstance(value, ast.Name) and value.id in names) or ctx.segment(value) in texts:
                name = next(key for key, read in reads)
                ctx.report(
                    reads[0][1],
                    f"{node.name}() acts as the user whose id the client puts in the request "
                    f"body (`{name}`) and nothing authenticates the caller: anyone can post "
                    f"`{name}: 1` and act, order or pay as that user. Authenticate the request "
                    "and take the id from the verified token or session",
                )
                return
