"""Security: JWTs decoded without verification or issued without expiry (SEC004, SEC005)."""

from __future__ import annotations

import ast
from typing import Any

from prodready.plugin import Category, Confidence, FunctionEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    argument,
    constant_str,
    dotted,
    has_star_kwargs,
    is_false,
    keyword_value,
    name_words,
    walk_nodes,
)
from prodready.rules.security._shared import _imports

# -- SEC004 / SEC005 ---------------------------------------------------------------------------

_JWT_DECODE = (
    "jwt.decode",
    "jwt.api_jwt.decode",
    "jwt.decode_complete",
    "jwt.api_jwt.decode_complete",
    "jwt.PyJWT.decode",
    "jose.jwt.decode",
)
_JWT_UNVERIFIED = ("jose.jwt.get_unverified_claims", "jwt.get_unverified_claims")
_AUTH_FUNCTION_WORDS = frozenset(
    {"auth", "authenticate", "authorize", "verify", "validate", "permission", "require"}
    | {"login", "identity", "principal", "current", "session", "guard", "check"}
)


def _dict_value(expr: ast.expr | None, ctx: PythonContext) -> ast.Dict | None:
    if isinstance(expr, ast.Name):
        expr = ctx.value_of(expr.id)
    return expr if isinstance(expr, ast.Dict) else None


def _dict_get(mapping: ast.Dict, key: str) -> ast.expr | None:
    for k, v in zip(mapping.keys, mapping.values, strict=True):
        if constant_str(k) == key:
            return v
    return None


def _imports_jwt(ctx: PythonContext) -> bool:
    return _imports(ctx, ("jwt", "jose"))


def _routing_only(call: ast.Call, ctx: PythonContext) -> bool:
    """The unverified payload is only read to compare a claim, and the function gives back no
    more than a yes/no (``is_our_token(token) -> bool``: which backend or key handles the token,
    decided before the real, verified decode): no claim leaves the function as an identity."""
    scope = ctx.function
    assignment = ctx.parent(call)
    if (
        scope is None
        or not isinstance(assignment, ast.Assign)
        or len(assignment.targets) != 1
        or not isinstance(assignment.targets[0], ast.Name)
    ):
        return False
    function = scope.node
    payload = assignment.targets[0].id
    claims: set[str] = set()  # locals holding a claim read from the payload
    for node in ast.walk(function):
        if isinstance(node, ast.Return) and not _yes_or_no(node.value):
            return False
        if not isinstance(node, ast.Name) or not isinstance(node.ctx, ast.Load):
            continue
        if node.id == payload:
            read = _claim_read(node, ctx)
            if read is None:
                return False
            holder = _compared_or_held(read, ctx)
        elif node.id in claims:
            holder = _compared_or_held(node, ctx)
        else:
            continue
        if holder is False:
            return False
        if isinstance(holder, str):
            if holder == payload:
                return False
            claims.add(holder)
    # a claim assigned after its first read was walked is still checked: walk once more
    return all(
        _compared_or_held(node, ctx) is not False
        for node in ast.walk(function)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in claims
    )


def _yes_or_no(value: ast.expr | None) -> bool:
    if value is None or (isinstance(value, ast.Constant) and value.value in (True, False, None)):
        return True
    if isinstance(value, ast.Compare) or (
        isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.Not)
    ):
        return True
    return isinstance(value, ast.BoolOp) and all(_yes_or_no(v) for v in value.values)


def _claim_read(name: ast.Name, ctx: PythonContext) -> ast.expr | None:
    """``payload["iss"]`` or ``payload.get("iss")``: the expression reading one literal claim."""
    parent = ctx.parent(name)
    if isinstance(parent, ast.Subscript) and constant_str(parent.slice) is not None:
        return parent
    if isinstance(parent, ast.Attribute) and parent.attr == "get":
        call = ctx.parent(parent)
        if isinstance(call, ast.Call) and call.func is parent and call.args:
            return call
    if isinstance(parent, ast.Compare):
        return name  # ``"iss" in payload``
    return None


def _compared_or_held(expr: ast.expr, ctx: PythonContext) -> str | bool:
    """True when a claim is only compared or tested, the local's name when it is assigned to one
    (checked in turn), False for any other use."""
    parent = ctx.parent(expr)
    if isinstance(parent, ast.Compare):
        return True
    if isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not):
        return True
    if isinstance(parent, ast.BoolOp | ast.If | ast.IfExp) and (
        not isinstance(parent, ast.IfExp) or parent.test is expr
    ):
        return isinstance(parent, ast.If) or _compared_or_held(parent, ctx) is True
    if (
        isinstance(parent, ast.Assign)
        and len(parent.targets) == 1
        and isinstance(parent.targets[0], ast.Name)
    ):
        return parent.targets[0].id
    return False


def _auth_context(ctx: PythonContext) -> bool:
    if ctx.route is not None:
        return True
    scope = ctx.function
    return scope is not None and bool(set(name_words(scope.name)) & _AUTH_FUNCTION_WORDS)


@python_rule(
    code="SEC004",
    name="jwt-decode-without-verification",
    category=Category.SECURITY,
    severity=Severity.CRITICAL,
    summary="JWT decoded without verifying its signature (or with the 'none' algorithm)",
    calls=(*_JWT_DECODE, *_JWT_UNVERIFIED),
    nodes=(FunctionEnd,),
    cwe=347,
    fix='jwt.decode(token, key, algorithms=["HS256"]) -- keep signature and expiry checks on.',
)
def jwt_decode_without_verification(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags PyJWT and python-jose `jwt.decode(...)` calls that turn verification off:
    `options={"verify_signature": False}`, `verify=False` (PyJWT 1.x), `algorithms=["none"]`,
    and `get_unverified_claims()` in a function that never verifies the token. Turning off only
    the expiry check (`options={"verify_exp": False}`) is reported with its own message.

    Evidence tier: an unverified decode whose payload is only read to compare a claim, in a
    function that returns no more than a yes/no (`is_our_token(token) -> bool`, deciding which
    backend or key handles the token before the real decode), hands no claim on as an
    identity. It is reported at low severity and confidence: the rule cannot see whether the
    caller verifies the token before trusting it. A payload (or a claim of it) that is
    returned, passed to a lookup or kept is reported at critical.

    ## Why it breaks production
    Without the signature check a JWT is just base64 JSON that anyone can write: an attacker
    sets `"sub": "admin"` or `"role": "superuser"` and is that user. With the expiry check off,
    a token stolen once (from a log, a browser extension, a proxy) works forever.

    ## Example
    ```python
    def current_user(token: str = Depends(oauth2_scheme)):
        claims = jwt.decode(token, options={"verify_signature": False})
        return users.get(claims["sub"])
    ```

    ## Use instead
    ```python
    def current_user(token: str = Depends(oauth2_scheme)):
        claims = jwt.decode(token, settings.JWT_KEY, algorithms=["HS256"])
        return users.get(claims["sub"])
    ```
    """
    if ctx.facts.is_test or not _imports_jwt(ctx):
        return
    state: dict[str, Any] = ctx.rule_state(lambda: {"unverified": [], "verified": False})
    if not isinstance(node, ast.Call):
        if not state["verified"]:
            for call in state["unverified"]:
                ctx.report(
                    call,
                    "claims read with get_unverified_claims() and the token is never verified "
                    "in this function: anyone can forge them. Verify with jwt.decode(token, "
                    "key, algorithms=[...]) before trusting any claim",
                    confidence=Confidence.MEDIUM,
                )
        return
    name = ctx.call_name or ""
    if name in _JWT_UNVERIFIED:
        if ctx.function is None:
            return
        state["unverified"].append(node)
        return
    confidence = Confidence.HIGH if _auth_context(ctx) else Confidence.MEDIUM
    options = _dict_value(keyword_value(node, "options"), ctx)
    algorithms = keyword_value(node, "algorithms")
    if isinstance(algorithms, ast.Name):
        algorithms = ctx.value_of(algorithms.id) or algorithms
    none_algorithm = isinstance(algorithms, ast.List | ast.Tuple | ast.Set) and any(
        (constant_str(e) or "").lower() == "none" for e in algorithms.elts
    )
    if (options is not None and is_false(_dict_get(options, "verify_signature"))) or is_false(
        keyword_value(node, "verify")
    ):
        if _routing_only(node, ctx):
            ctx.report(
                node,
                f"{name}() with signature verification turned off, only to compare a claim and "
                "answer yes or no (a routing pre-check): this rule cannot see whether the "
                "caller verifies the token before trusting it. Make sure it does, or verify "
                "here",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )
            return
        ctx.report(
            node,
            f"{name}() with signature verification turned off: anyone can forge this token's "
            "claims (sub, role, tenant). Verify it: jwt.decode(token, key, algorithms=[...])",
            confidence=confidence,
        )
        return
    if none_algorithm:
        ctx.report(
            node,
            f'{name}() accepts the "none" algorithm: unsigned tokens pass as valid. List only '
            'the algorithm you sign with, e.g. algorithms=["HS256"]',
            confidence=confidence,
        )
        return
    if options is not None and is_false(_dict_get(options, "verify_exp")):
        ctx.report(
            node,
            f"{name}() with verify_exp=False: expired tokens stay valid forever, so a token "
            "stolen once never stops working. Keep the expiry check on (use leeway= for skew)",
            severity=Severity.HIGH,
            confidence=confidence,
        )
        return
    state["verified"] = True


_JWT_ENCODE = ("jwt.encode", "jwt.api_jwt.encode", "jwt.PyJWT.encode", "jose.jwt.encode")
_IDENTITY_CLAIMS = frozenset({"sub", "user_id", "uid", "user", "email", "username", "role"})


def _claims(payload: ast.expr | None, ctx: PythonContext) -> tuple[set[str], str | None] | None:
    """The literal claim names of a payload (and the local name holding it), or None when the
    payload is not a literal we can see whole."""
    local: str | None = None
    if isinstance(payload, ast.Name):
        local = payload.id
        if not _is_local(local, ctx):
            return None
        payload = ctx.value_of(payload.id)
    if isinstance(payload, ast.Dict):
        keys: set[str] = set()
        for key in payload.keys:
            text = constant_str(key)
            if text is None:
                return None  # ``**claims`` or a computed key
            keys.add(text)
        return keys, local
    if isinstance(payload, ast.Call) and dotted(payload.func) == "dict" and not payload.args:
        if has_star_kwargs(payload):
            return None
        return {k.arg for k in payload.keywords if k.arg is not None}, local
    return None


def _is_local(name: str, ctx: PythonContext) -> bool:
    scope = ctx.function
    return scope is not None and name in scope.values


@python_rule(
    code="SEC005",
    name="jwt-without-expiry",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    summary='JWT issued without an "exp" claim: the token is valid forever',
    calls=(*_JWT_ENCODE, "*.update", "*.setdefault"),
    nodes=(ast.Assign, FunctionEnd),
    cwe=613,
    fix='Add an expiry: payload["exp"] = datetime.now(timezone.utc) + timedelta(minutes=15).',
)
def jwt_without_expiry(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `jwt.encode(payload, ...)` (PyJWT, python-jose) when the payload is a dict literal --
    inline or in a local variable -- without an `"exp"` claim, and the function never adds one
    (`payload["exp"] = ...`, `payload.update(exp=...)`) before or after. An unsigned token
    (`algorithm="none"`) is no credential -- anyone can write one -- and is left alone.

    Evidence tier: a token the function mints and puts in an `Authorization` header it sends
    (`{"Authorization": "Bearer %s" % token}`) is a client credential for another service's
    API, whose format that service sets: reported low, confidence low. So is a token minted
    straight into a database record (`Invite(token=jwt.encode(...))`,
    `Invite.objects.create(token=...)`): kept server-side, it is usually checked by looking the
    row up and ends with the row; the rule cannot tell whether decoding alone also accepts it.

    ## Why it breaks production
    PyJWT and python-jose only reject expired tokens when there is an `exp` claim. Without it,
    an access token copied once -- from a log line, a proxy, a shared laptop, a leaked HAR file
    -- authenticates forever, and there is no way to cut it off short of rotating the signing
    key for every user.

    ## Example
    ```python
    def create_access_token(user: User) -> str:
        return jwt.encode({"sub": str(user.id), "role": user.role}, SECRET, algorithm="HS256")
    ```

    ## Use instead
    ```python
    def create_access_token(user: User) -> str:
        expires = datetime.now(timezone.utc) + timedelta(minutes=15)
        claims = {"sub": str(user.id), "role": user.role, "exp": expires}
        return jwt.encode(claims, SECRET, algorithm="HS256")
    ```
    """
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if target.__class__ is ast.Subscript and constant_str(target.slice) == "exp":
                name = dotted(target.value)
                if name is not None and _imports_jwt(ctx):
                    ctx.rule_state(_jwt_state)["exp"].add(name)
        return
    if ctx.facts.is_test or not _imports_jwt(ctx):
        return
    state: dict[str, Any] = ctx.rule_state(_jwt_state)
    if not isinstance(node, ast.Call):  # FunctionEnd
        for call, local, keys in state["pending"]:
            if local not in state["exp"]:
                _report_no_exp(call, keys, ctx)
        return
    func = node.func
    name = ctx.call_name or ""
    if name not in _JWT_ENCODE:
        if isinstance(func, ast.Attribute) and func.attr in {"update", "setdefault"}:
            owner = dotted(func.value)
            if owner is not None and _sets_exp(node, func.attr):
                state["exp"].add(owner)
        return
    algorithm = keyword_value(node, "algorithm")
    if (constant_str(algorithm) or "").lower() == "none":
        return  # unsigned: anyone can write one, so it is an assertion, never a credential
    payload = argument(node, 0, "payload") or keyword_value(node, "claims")
    claims = _claims(payload, ctx)
    if claims is None:
        return
    keys, local = claims
    if "exp" in keys:
        return
    if local is None or ctx.function is None:
        _report_no_exp(node, keys, ctx)
    else:
        state["pending"].append((node, local, keys))


def _jwt_state() -> dict[str, Any]:
    return {"pending": [], "exp": set()}


def _sets_exp(call: ast.Call, method: str) -> bool:
    if method == "setdefault":
        return bool(call.args) and constant_str(call.args[0]) == "exp"
    if any(k.arg == "exp" for k in call.keywords):
        return True
    return any(
        isinstance(arg, ast.Dict) and any(constant_str(k) == "exp" for k in arg.keys)
        for arg in call.args
    )


def _report_no_exp(call: ast.Call, keys: set[str], ctx: PythonContext) -> None:
    identity = bool(keys & _IDENTITY_CLAIMS)
    if _presented_as_bearer(call, ctx):
        ctx.report(
            call,
            'JWT issued without an "exp" claim, minted here for an outbound request\'s '
            "Authorization header: a client credential for another service's API, whose "
            'format that service sets -- if it accepts an "exp", add one so a leaked header '
            "stops working: reported low",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    record = _stored_in_record(call, ctx)
    if record is not None:
        ctx.report(
            call,
            f'JWT issued without an "exp" claim, minted straight into a {record}(...) record: '
            "a token kept server-side is usually checked by looking that row up and ends when "
            "the row is deleted or marked used -- prodready could not tell whether it is also "
            'accepted by decoding alone (then add "exp"): reported low',
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    ctx.report(
        call,
        'JWT issued without an "exp" claim: it never expires, so a leaked token works '
        'forever. Add "exp" (e.g. now + 15 minutes) and refresh tokens when needed',
        confidence=Confidence.HIGH if identity else Confidence.MEDIUM,
    )


_RECORD_WRITES = frozenset({"create", "get_or_create", "update_or_create"})


def _stored_in_record(call: ast.Call, ctx: PythonContext) -> str | None:
    """The token is a keyword argument of a model constructor (``Invite(token=jwt.encode(
    ...))``) or of ``Model.objects.create(...)``: it is written to a database row, where the
    service keeps it. The model's name, or ``None``."""
    keyword = ctx.parent(call)
    owner = ctx.parent(keyword) if isinstance(keyword, ast.keyword) else None
    if not isinstance(owner, ast.Call):
        return None
    func = owner.func
    if isinstance(func, ast.Attribute) and func.attr in _RECORD_WRITES:
        func = func.value.value if isinstance(func.value, ast.Attribute) else func.value
    name = dotted(func) or ""
    last = name.rsplit(".", 1)[-1]
    return last if last[:1].isupper() else None


def _presented_as_bearer(call: ast.Call, ctx: PythonContext) -> bool:
    """The token goes into an ``Authorization`` header this code sends: ``"Bearer %s" %
    token``, ``f"Bearer {token}"`` or ``{"Authorization": token}`` in the function that mints
    it (directly or through the local it is bound to) -- the code is the client of another
    service, not an issuer of tokens to its own users."""
    scope = ctx.function
    if scope is None:
        return False
    names = {
        target.id
        for node in walk_nodes(scope.node)
        if isinstance(node, ast.Assign) and node.value is call
        for target in node.targets
        if isinstance(target, ast.Name)
    }

    def carries_token(expr: ast.AST) -> bool:
        return any(
            node is call or (isinstance(node, ast.Name) and node.id in names)
            for node in ast.walk(expr)
        )

    for node in walk_nodes(scope.node):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (constant_str(key) or "").lower() == "authorization" and carries_token(value):
                    return True
        elif isinstance(node, ast.BinOp | ast.JoinedStr) and carries_token(node):
            texts = [constant_str(part) or "" for part in ast.walk(node)]
            if any(text.lstrip().startswith("Bearer") for text in texts):
                return True
    return False
