"""Security: the acting user named by the client, with no authentication (SEC047)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import constant_str, dotted

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
    r"|transfer|book|reserve|write|store|put|set|append|emit|broadcast|message|vote|like",
    re.IGNORECASE,
)
_MODULE_AUTH = re.compile(
    r"add_middleware\(\s*[\w.]*(?:Auth|JWT|Token|Session|Login)|before_request"
    r"|AuthenticationMiddleware|login_manager|LoginManager|HTTPBearer|OAuth2PasswordBearer"
    r"|APIKeyHeader|APIKeyQuery|HTTPBasic\b|jwt_required|login_required",
)


def _identity_values(
    node: ast.FunctionDef | ast.AsyncFunctionDef, path: str, ctx: PythonContext
) -> dict[str, ast.AST]:
    """Where the handler takes the caller's identity from the query string: a scalar
    parameter that is not in the route's path (FastAPI/Starlette query and WebSocket
    parameters), or ``request.args.get("user_id")`` and the like."""
    found: dict[str, ast.AST] = {}
    for arg in [*node.args.args, *node.args.kwonlyargs]:
        if not _IDENTITY.match(arg.arg) or f"{{{arg.arg}" in path or f"<{arg.arg}" in path:
            continue
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
    if route is None:
        return
    guards = " ".join([*route.decorators, *route.dependencies])
    text = "\n".join(ctx.segment(statement) for statement in node.body)
    signature = " ".join(ctx.segment(a) for a in [*node.args.defaults, *node.args.kw_defaults] if a)
    if _AUTHENTICATION.search(guards) or _AUTHENTICATION.search(text + signature):
        return
    identities = _identity_values(node, route.path or "", ctx)
    if not identities or _MODULE_AUTH.search(ctx.source):
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
