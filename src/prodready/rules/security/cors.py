"""Security: CORS allowing any origin with credentials (SEC011)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    ModuleMemo,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    constant_str,
    dotted,
    env_lookup,
    has_star_kwargs,
    is_true,
    keyword_value,
)
from prodready.rules.security._shared import _module_value

# -- SEC011 ------------------------------------------------------------------------------------

_ANY_ORIGIN_PROBE = "https://attacker.example"


def _resolve(expr: ast.expr | None, ctx: PythonContext) -> ast.expr | None:
    if isinstance(expr, ast.Name):
        return ctx.value_of(expr.id) or _module_value(expr.id, ctx) or expr
    return expr


def _wildcard_when_unset(expr: ast.expr | None, ctx: PythonContext) -> bool:
    """``os.getenv("CORS_ORIGINS", "*")`` (also ``.split(",")``): every origin whenever the
    deployment forgets the variable."""
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr == "split"
    ):
        expr = expr.func.value
    lookup = env_lookup(_resolve(expr, ctx), ctx)
    return lookup is not None and constant_str(lookup.default) == "*"


def _allows_any_origin(origins: ast.expr | None, ctx: PythonContext) -> bool:
    origins = _resolve(origins, ctx)
    if constant_str(origins) == "*" or _wildcard_when_unset(origins, ctx):
        return True
    if isinstance(origins, ast.List | ast.Tuple | ast.Set):
        return any(constant_str(e) == "*" or _wildcard_when_unset(e, ctx) for e in origins.elts)
    return False


def _regex_allows_any(pattern: ast.expr | None, ctx: PythonContext) -> bool:
    text = constant_str(_resolve(pattern, ctx))
    if text is None:
        return False
    try:
        return re.fullmatch(text, _ANY_ORIGIN_PROBE) is not None
    except re.error:
        return False


_CORS_MESSAGE = (
    "any website can make credentialed requests to this API and read the responses (the "
    "wildcard is answered by echoing the caller's Origin): list the allowed origins explicitly"
)


@python_rule(
    code="SEC011",
    name="cors-wildcard-with-credentials",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="CORS allows any origin together with credentials (cookies, Authorization)",
    calls=(
        "*.add_middleware",
        "starlette.middleware.Middleware",
        "fastapi.middleware.Middleware",
        "flask_cors.CORS",
        "flask_cors.cross_origin",
        "aiohttp_cors.setup",
        "*.add",
    ),
    nodes=(ast.Module, ast.FunctionDef, ast.AsyncFunctionDef),
    cwe=942,
    fix='allow_origins=["https://app.example.com"] (from configuration), not ["*"].',
)
def cors_wildcard_with_credentials(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags CORS configurations that allow every origin *and* credentials: Starlette/FastAPI
    `CORSMiddleware` with `allow_origins=["*"]` (or an `allow_origin_regex` matching any origin)
    and `allow_credentials=True`; flask-cors `CORS(app, supports_credentials=True)` or
    `@cross_origin(supports_credentials=True)` with the default or `"*"` origins; Django
    settings with `CORS_ALLOW_ALL_ORIGINS = True` (or `CORS_ORIGIN_ALLOW_ALL`) and
    `CORS_ALLOW_CREDENTIALS = True`. Evidence tier: a Django wildcard set only in the branch
    taken when no allowed origins are configured (the `if`'s other branch sets
    `CORS_ALLOWED_ORIGINS`) is a fail-open default whose reach depends on whether deployments
    configure the origins, which the code does not show: reported low, confidence low.

    ## Why it breaks production
    Browsers refuse `Access-Control-Allow-Origin: *` with credentials, so these libraries echo
    the caller's `Origin` header instead. Every website a logged-in user visits can then call
    the API with the user's cookies and read the answers: account data, tokens, CSRF-protected
    actions.

    ## Example
    ```python
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_credentials=True, allow_methods=["*"]
    )
    ```

    ## Use instead
    ```python
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,  # ["https://app.example.com"]
        allow_credentials=True,
        allow_methods=["GET", "POST"],
    )
    ```
    """
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.Module):
        _django_cors(ctx)
        return
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        _manual_cors_headers(node, ctx)
        return
    assert isinstance(node, ast.Call)
    name = ctx.call_name or ""
    if name == "aiohttp_cors.setup" or (
        name.endswith(".add") and len(node.args) > 1 and isinstance(node.args[1], ast.Dict)
    ):
        _aiohttp_cors(node, ctx)
        return
    if name.startswith("flask_cors."):
        if not is_true(_resolve(keyword_value(node, "supports_credentials"), ctx)):
            return
        if has_star_kwargs(node) or keyword_value(node, "resources") is not None:
            return
        origins = keyword_value(node, "origins")
        if (
            origins is None
            or _allows_any_origin(origins, ctx)
            or _regex_allows_any(origins, ctx)  # flask-cors treats origin strings as regexes
        ):
            ctx.report(
                node if origins is None else origins,
                f"flask-cors with supports_credentials=True and every origin allowed: "
                f"{_CORS_MESSAGE}",
            )
        return
    if not node.args or has_star_kwargs(node):
        return
    middleware = node.args[0]
    if not (dotted(middleware) or "").endswith("CORSMiddleware"):
        return
    if not is_true(_resolve(keyword_value(node, "allow_credentials"), ctx)):
        return
    # The finding sits on the offending argument: in a call spread over several lines that is
    # the line a reviewer (and a label) points at, not the call's first line.
    origins = keyword_value(node, "allow_origins")
    regex = keyword_value(node, "allow_origin_regex")
    offending = (
        origins
        if _allows_any_origin(origins, ctx)
        else regex
        if _regex_allows_any(regex, ctx)
        else None
    )
    if offending is not None:
        ctx.report(
            offending,
            f"CORSMiddleware allows every origin with allow_credentials=True: {_CORS_MESSAGE}",
        )


_ALLOW_LISTS = frozenset({"CORS_ALLOWED_ORIGINS", "CORS_ORIGIN_WHITELIST"})


def _fallback_from_allow_list(value: ast.expr, ctx: PythonContext) -> bool:
    """The ``= True`` sits in one branch of an ``if`` whose other branch sets the allow-list
    (``if origins: CORS_ALLOWED_ORIGINS = origins else: CORS_ALLOW_ALL_ORIGINS = True``): every
    origin only when the deployment configures none."""
    assignment = ctx.parent(value)
    branch = ctx.parent(assignment) if assignment is not None else None
    if not isinstance(branch, ast.If) or not branch.orelse:
        return False
    other = branch.body if assignment in branch.orelse else branch.orelse
    return any(
        isinstance(statement, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id in _ALLOW_LISTS for t in statement.targets)
        for statement in other
    )


def _django_cors(ctx: PythonContext) -> None:
    constants = ctx.facts.constants
    credentials = constants.get("CORS_ALLOW_CREDENTIALS")
    if not is_true(credentials):
        return
    for name in ("CORS_ALLOW_ALL_ORIGINS", "CORS_ORIGIN_ALLOW_ALL"):
        value = constants.get(name)
        if is_true(value) and value is not None:
            if _fallback_from_allow_list(value, ctx):
                ctx.report(
                    value,
                    f"{name} = True with CORS_ALLOW_CREDENTIALS = True, but only in the branch "
                    "taken when no allowed origins are configured (the other branch sets "
                    "CORS_ALLOWED_ORIGINS): a fail-open default -- prodready could not tell "
                    "whether every deployment configures the origins. Make the fallback fail "
                    "closed (no origins, or a refusal to start)",
                    severity=Severity.LOW,
                    confidence=Confidence.LOW,
                )
                continue
            ctx.report(
                value,
                f"{name} = True with CORS_ALLOW_CREDENTIALS = True: {_CORS_MESSAGE} "
                "(CORS_ALLOWED_ORIGINS)",
            )
    for name in ("CORS_ALLOWED_ORIGIN_REGEXES", "CORS_ORIGIN_REGEX_WHITELIST"):
        value = constants.get(name) or _module_value(name, ctx)  # a list is no "constant"
        patterns = value.elts if isinstance(value, ast.List | ast.Tuple) else []
        for pattern in patterns:
            if _regex_allows_any(pattern, ctx):
                ctx.report(
                    pattern,
                    f"{name} matches every origin with CORS_ALLOW_CREDENTIALS = True: "
                    f"{_CORS_MESSAGE} (anchored patterns of your own domains)",
                )
                break


def _aiohttp_cors(node: ast.Call, ctx: PythonContext) -> None:
    """``aiohttp_cors.setup(app, defaults={"*": ResourceOptions(allow_credentials=True)})``
    and ``cors.add(route, {"*": ResourceOptions(allow_credentials=True)})``."""
    options = keyword_value(node, "defaults") if node.args[1:2] == [] else node.args[1]
    options = _resolve(options, ctx)
    if not isinstance(options, ast.Dict):
        return
    for key, value in zip(options.keys, options.values, strict=True):
        if constant_str(key) != "*" or not isinstance(value, ast.Call):
            continue
        if not (ctx.qualname(value.func) or dotted(value.func) or "").endswith("ResourceOptions"):
            continue
        if is_true(_resolve(keyword_value(value, "allow_credentials"), ctx)):
            ctx.report(
                key if key is not None else value,
                f"aiohttp-cors allows every origin with allow_credentials=True: {_CORS_MESSAGE}",
            )


_ALLOW_ORIGIN = "access-control-allow-origin"
_ALLOW_CREDENTIALS = "access-control-allow-credentials"
# Most modules never write the header: the per-function walk stops at this module-wide test.
_SETS_CREDENTIALS_HEADER: ModuleMemo[bool] = ModuleMemo(
    "SEC011:credentials-header", lambda ctx: _ALLOW_CREDENTIALS in ctx.source.lower()
)


def _header_writes(function: ast.AST) -> list[tuple[str, ast.expr, ast.AST]]:
    """(header name, value, node) for ``x.headers["H"] = v``, ``response["H"] = v``,
    ``headers.set/add/setdefault("H", v)`` and ``{"H": v}`` inside ``function``."""
    writes: list[tuple[str, ast.expr, ast.AST]] = []
    for node in _own_nodes(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Subscript):
                    key = constant_str(target.slice)
                    if key is not None:
                        writes.append((key.lower(), node.value, node))
        elif isinstance(node, ast.Dict):
            for key_node, value in zip(node.keys, node.values, strict=True):
                key = constant_str(key_node)
                if key is not None:
                    writes.append((key.lower(), value, key_node or value))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"set", "add", "setdefault", "add_header", "__setitem__"}
            and len(node.args) == 2
        ):
            key = constant_str(node.args[0])
            if key is not None:
                writes.append((key.lower(), node.args[1], node))
    return writes


def _manual_cors_headers(
    function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> None:
    if ctx.facts.is_example or not ctx.memo(_SETS_CREDENTIALS_HEADER):
        return
    text = ctx.segment(function).lower()
    if _ALLOW_CREDENTIALS not in text or _ALLOW_ORIGIN not in text:
        return
    writes = _header_writes(function)
    credentials = any(
        name == _ALLOW_CREDENTIALS and (constant_str(value) or "").lower() == "true"
        for name, value, _ in writes
    )
    if not credentials or _checks_origin(function, ctx):
        return
    for name, value, where in writes:
        if name != _ALLOW_ORIGIN:
            continue
        literal = constant_str(value)
        echoed = literal is None and "origin" in ctx.segment(value).lower()
        if literal == "*" or echoed:
            ctx.report(
                where,
                "Access-Control-Allow-Origin "
                + ("echoes the request's Origin" if echoed else "is *")
                + f" with Access-Control-Allow-Credentials: true: {_CORS_MESSAGE}",
            )
            return


def _own_nodes(function: ast.AST) -> list[ast.AST]:
    """The nodes of ``function`` outside its nested functions and classes (judged on their own)."""
    found: list[ast.AST] = []
    pending = list(ast.iter_child_nodes(function))
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


def _checks_origin(function: ast.AST, ctx: PythonContext) -> bool:
    """The function compares the origin with something (``if origin in ALLOWED_ORIGINS``,
    ``origin.endswith(".example.com")``, a regex match): an allow-list, not an echo."""
    for node in ast.walk(function):
        if isinstance(node, ast.Compare) and "origin" in ctx.segment(node).lower():
            return True
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"match", "fullmatch", "search", "endswith", "startswith"}
            and "origin" in ctx.segment(node).lower()
        ):
            return True
    return False
