"""Security: session and token cookies without Secure/HttpOnly (SEC043)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    argument,
    constant_str,
    dotted,
    has_star_kwargs,
    keyword_value,
    name_words,
    secret_name,
)
from prodready.rules.security._shared import _dev_settings_file

# -- SEC043 ------------------------------------------------------------------------------------

_CREDENTIAL_WORDS = frozenset(
    {"session", "sessionid", "sid", "token", "auth", "jwt", "login", "remember", "refresh"}
    | {"access", "bearer", "credentials", "identity"}
)
# Django and Flask settings that switch the framework's own session/CSRF cookie flags off.
_COOKIE_SETTINGS = frozenset(
    {"SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "CSRF_COOKIE_SECURE"}
    | {"REMEMBER_COOKIE_SECURE", "REMEMBER_COOKIE_HTTPONLY", "JWT_COOKIE_SECURE"}
)


def _credential_cookie(call: ast.Call) -> str | None:
    """The cookie's name when it (or the value set) is a session or token."""
    name_expr = argument(call, 0, "key")
    if name_expr is None:
        name_expr = keyword_value(call, "name")
    value_expr = argument(call, 1, "value")
    name = constant_str(name_expr) or dotted(name_expr) or ""
    value = dotted(value_expr) or ""
    for candidate in (name, value.rpartition(".")[2]):
        words = set(name_words(candidate))
        if candidate and (secret_name(candidate) or words & _CREDENTIAL_WORDS):
            return name or value
    return None


# Annotations a credential is carried in: text (or anything at all).
_TEXT_TYPES = frozenset({"str", "bytes", "Any", "object", "SecretStr", "SecretBytes"})


def _typed_choice(value: ast.expr | None, ctx: PythonContext) -> bool:
    """The value is a parameter annotated with a class that is not text (``option:
    SignInOption``, an enum; ``count: int``): a choice or a number, never a token -- whatever
    the cookie is called (``last_login_option``)."""
    scope = ctx.function
    if not isinstance(value, ast.Name) or scope is None:
        return False
    arg = next((a for a in scope.params if a.arg == value.id), None)
    if arg is None or arg.annotation is None or value.id in scope.values:
        return False
    names = [n for n in ast.walk(arg.annotation) if isinstance(n, ast.Name | ast.Attribute)]
    words = {n.id if isinstance(n, ast.Name) else n.attr for n in names}
    return bool(words) and not words & _TEXT_TYPES and not any(secret_name(w) for w in words)


def _explicitly_false(expr: ast.expr | None) -> bool:
    return isinstance(expr, ast.Constant) and expr.value in (False, None, 0)


@python_rule(
    code="SEC043",
    name="credential-cookie-without-flags",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    summary="Session or token cookie set without Secure or HttpOnly",
    calls=("*.set_cookie", "*.update", "*.from_mapping"),
    nodes=(ast.Assign,),
    cwe=614,
    fix="set_cookie('session', token, secure=True, httponly=True, samesite='Lax').",
)
def credential_cookie_without_flags(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags cookies that carry a session or a token -- by their name (`session`, `sid`,
    `access_token`, `jwt`, `remember_me`...) or the value set -- written by
    `response.set_cookie(...)` (Flask/Werkzeug, Django, Starlette/FastAPI, aiohttp) without
    `secure=True` or without `httponly=True` (every one of these frameworks defaults both to
    off), and settings that turn the framework's own flags off: `SESSION_COOKIE_SECURE =
    False`, `SESSION_COOKIE_HTTPONLY = False`, `CSRF_COOKIE_SECURE = False`. Flags read from
    configuration are trusted.

    Evidence tier: a CSRF token cookie (`csrf_token`, `XSRF-TOKEN`) is a double-submit token
    the page's own script reads, so it is never asked to be HttpOnly; set without `secure=True`
    it is reported low, confidence low -- it carries no session.

    ## Why it breaks production
    Without `Secure` the browser also sends the cookie over plain http -- any redirect, mixed
    content or hostile Wi-Fi hands the session to whoever listens. Without `HttpOnly` every
    script on the page can read it, so one XSS bug (or one compromised third-party script)
    exfiltrates every visitor's session.

    ## Example
    ```python
    response.set_cookie("session", token, max_age=3600)
    ```

    ## Use instead
    ```python
    response.set_cookie(
        "session", token, max_age=3600, secure=True, httponly=True, samesite="Lax"
    )
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    if isinstance(node, ast.Assign):
        if ctx.function is not None or not _explicitly_false(node.value):
            return
        if _dev_settings_file(ctx.path):
            return  # settings/local.py: a developer's http://localhost has no TLS
        for target in node.targets:
            name = (
                target.id
                if isinstance(target, ast.Name)
                else constant_str(target.slice if isinstance(target, ast.Subscript) else None)
            )
            if name in _COOKIE_SETTINGS:
                ctx.report(
                    node,
                    f"{name} = False sends the session/CSRF cookie without that protection: "
                    "over plain http it can be sniffed, without HttpOnly any script can read "
                    "it. Leave the framework's secure setting on",
                )
        return
    assert isinstance(node, ast.Call)
    if has_star_kwargs(node):
        return
    if isinstance(node.func, ast.Attribute) and node.func.attr != "set_cookie":
        # app.config.update(SESSION_COOKIE_SECURE=False)
        if _dev_settings_file(ctx.path):
            return
        for keyword in node.keywords:
            if keyword.arg in _COOKIE_SETTINGS and _explicitly_false(keyword.value):
                ctx.report(
                    keyword.value,
                    f"{keyword.arg}=False sends the session cookie without that "
                    "protection: over plain http it can be sniffed, without HttpOnly any "
                    "script can read it. Leave the framework's secure setting on",
                )
        return
    cookie = _credential_cookie(node)
    if cookie is None or _typed_choice(argument(node, 1, "value"), ctx):
        return
    missing = [
        flag
        for flag in ("secure", "httponly")
        if keyword_value(node, flag) is None or _explicitly_false(keyword_value(node, flag))
    ]
    if _CSRF_WORDS & set(name_words(cookie)):
        _report_csrf_cookie(node, cookie, missing, ctx)
        return
    if not missing:
        return
    ctx.report(
        node,
        f"cookie {cookie!r} carries a session or token but is set without "
        f"{' and '.join(f'{flag}=True' for flag in missing)}: "
        + (
            "the browser also sends it over plain http, where anyone on the path can take it"
            if "secure" in missing
            else ""
        )
        + ("; " if len(missing) == 2 else "")
        + ("any script on the page (one XSS) can read it" if "httponly" in missing else ""),
    )


# A double-submit CSRF cookie (Angular's XSRF-TOKEN, Flask-WTF's csrf_token copied into a
# header by the page's script) must be readable by script, and it carries no session.
_CSRF_WORDS = frozenset({"csrf", "xsrf", "csrftoken"})


def _report_csrf_cookie(
    node: ast.Call, cookie: str, missing: list[str], ctx: PythonContext
) -> None:
    """A CSRF token cookie: HttpOnly is not asked for (the page's script reads it); without
    Secure it is reported low -- a token sniffed over http lets an on-path attacker forge
    requests only together with the session cookie, which has flags of its own."""
    if "secure" not in missing:
        return
    ctx.report(
        node,
        f"cookie {cookie!r} (a CSRF token) is set without secure=True: the browser also sends "
        "it over plain http. It stays readable by script on purpose (HttpOnly would break the "
        "double-submit check) and carries no session: reported low",
        severity=Severity.LOW,
        confidence=Confidence.LOW,
    )
