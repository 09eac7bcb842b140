"""Security: CORS allowing any origin with credentials (SEC011)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, PythonContext, Severity, python_rule
from prodready.plugin.analysis import constant_str, dotted, has_star_kwargs, is_true, keyword_value
from prodready.rules.security._shared import _module_value

# -- SEC011 ------------------------------------------------------------------------------------

_ANY_ORIGIN_PROBE = "https://attacker.example"


def _resolve(expr: ast.expr | None, ctx: PythonContext) -> ast.expr | None:
    if isinstance(expr, ast.Name):
        return ctx.value_of(expr.id) or _module_value(expr.id, ctx) or expr
    return expr


def _allows_any_origin(origins: ast.expr | None, ctx: PythonContext) -> bool:
    origins = _resolve(origins, ctx)
    if constant_str(origins) == "*":
        return True
    if isinstance(origins, ast.List | ast.Tuple | ast.Set):
        return any(constant_str(e) == "*" for e in origins.elts)
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
    ),
    nodes=(ast.Module,),
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
    `CORS_ALLOW_CREDENTIALS = True`.

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
    assert isinstance(node, ast.Call)
    name = ctx.call_name or ""
    if name.startswith("flask_cors."):
        if not is_true(_resolve(keyword_value(node, "supports_credentials"), ctx)):
            return
        if has_star_kwargs(node) or keyword_value(node, "resources") is not None:
            return
        origins = keyword_value(node, "origins")
        if origins is None or _allows_any_origin(origins, ctx):
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


def _django_cors(ctx: PythonContext) -> None:
    constants = ctx.facts.constants
    credentials = constants.get("CORS_ALLOW_CREDENTIALS")
    if not is_true(credentials):
        return
    for name in ("CORS_ALLOW_ALL_ORIGINS", "CORS_ORIGIN_ALLOW_ALL"):
        value = constants.get(name)
        if is_true(value) and value is not None:
            ctx.report(
                value,
                f"{name} = True with CORS_ALLOW_CREDENTIALS = True: {_CORS_MESSAGE} "
                "(CORS_ALLOWED_ORIGINS)",
            )
