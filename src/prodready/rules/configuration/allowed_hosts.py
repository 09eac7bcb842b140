"""Configuration: ALLOWED_HOSTS with a wildcard (CFG003)."""

from __future__ import annotations

import ast

from prodready.plugin import (
    Category,
    ModuleMemo,
    ProjectFact,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import constant_str, env_lookup, keyword_value
from prodready.rules.configuration._shared import _dev_guard, _dev_only_file

# -- CFG003 -----------------------------------------------------------------------------------

_TRUSTED_HOST = (
    "starlette.middleware.trustedhost.TrustedHostMiddleware",
    "fastapi.middleware.trustedhost.TrustedHostMiddleware",
)


# The project checks the Host header itself: a class of it raises Django's DisallowedHost (a
# middleware accepting the site's host and the known custom domains) or calls validate_host.
HOST_CHECKED_BY_PROJECT = ProjectFact(
    "configuration:host-checked-by-project",
    "a class of the project rejects unknown Host headers (raises DisallowedHost)",
)
_HOST_CHECKS = frozenset(
    {
        "django.core.exceptions.DisallowedHost",
        "django.http.request.validate_host",
        "django.http.validate_host",
    }
)


def _establish_host_check(ctx: PythonContext) -> bool:
    if ctx.facts.is_test or not ("DisallowedHost" in ctx.source or "validate_host" in ctx.source):
        return False
    for cls in ast.walk(ctx.tree):
        if not isinstance(cls, ast.ClassDef):
            continue
        for node in ast.walk(cls):
            call = node.exc if isinstance(node, ast.Raise) else node
            if isinstance(call, ast.Call) and ctx.qualname(call.func) in _HOST_CHECKS:
                ctx.establish(HOST_CHECKED_BY_PROJECT)
                return True
    return False


_HOST_CHECK: ModuleMemo[bool] = ModuleMemo("CFG003:host-check", _establish_host_check)


def _wildcard(expr: ast.AST | None, ctx: PythonContext) -> ast.AST | None:
    """The ``"*"`` in a host list (or in the default of an environment lookup building it)."""
    if expr is None:
        return None
    if isinstance(expr, ast.Constant):
        value = constant_str(expr)
        if value is not None and "*" in [part.strip() for part in value.split(",")]:
            return expr
        return None
    if isinstance(expr, ast.List | ast.Tuple | ast.Set):
        for element in expr.elts:
            if constant_str(element) == "*":
                return element
        return None
    if isinstance(expr, ast.Call):
        lookup = env_lookup(expr, ctx)
        if lookup is not None:
            return _wildcard(lookup.default, ctx)
        if isinstance(expr.func, ast.Attribute):  # os.getenv("HOSTS", "*").split(",")
            return _wildcard(expr.func.value, ctx)
        if ctx.qualname(expr.func) in {"builtins.list", "builtins.tuple"} and expr.args:
            return _wildcard(expr.args[0], ctx)
    return None


@python_rule(
    code="CFG003",
    name="allowed-hosts-wildcard",
    category=Category.CONFIGURATION,
    severity=Severity.MEDIUM,
    summary='ALLOWED_HOSTS / TrustedHostMiddleware accepts any Host header ("*")',
    calls=(*_TRUSTED_HOST, "*.add_middleware", "starlette.middleware.Middleware"),
    nodes=(ast.Assign, ast.AnnAssign),
    fix='List the real hostnames: ALLOWED_HOSTS = os.environ["ALLOWED_HOSTS"].split(",")',
)
def allowed_hosts_wildcard(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags Django settings that set `ALLOWED_HOSTS` to a list containing `"*"` (directly or as
    the default of an environment lookup), and Starlette/FastAPI `TrustedHostMiddleware`
    configured with `allowed_hosts=["*"]`. Assignments in an `if DEBUG:` branch and
    dev/local/test settings files are skipped, and so is `ALLOWED_HOSTS = ["*"]` in a project
    one of whose classes checks the Host header itself (raises `DisallowedHost` or calls
    `validate_host`: a middleware accepting the site's host and known custom domains).

    ## Why it breaks production
    Django builds absolute URLs -- password-reset links, email verification links, redirects --
    from the request's Host header. With `"*"` any Host is accepted, so an attacker can make
    the site email users a reset link pointing at the attacker's domain, and poison caches
    keyed on the host. The host check is the protection; `"*"` switches it off.

    ## Example
    ```python
    DEBUG = False
    ALLOWED_HOSTS = ["*"]
    ```

    ## Use instead
    ```python
    ALLOWED_HOSTS = os.environ["ALLOWED_HOSTS"].split(",")  # e.g. "api.example.com"
    ```
    """
    ctx.memo(_HOST_CHECK)
    if isinstance(node, ast.Assign | ast.AnnAssign) and (ctx.function is not None or ctx.classes):
        return
    if ctx.facts.is_test or _dev_only_file(ctx):
        return
    if isinstance(node, ast.Call):
        name = ctx.call_name or ""
        wrapped = name.endswith(".add_middleware") or name == "starlette.middleware.Middleware"
        if wrapped and (not node.args or ctx.qualname(node.args[0]) not in _TRUSTED_HOST):
            return
        star = _wildcard(keyword_value(node, "allowed_hosts"), ctx)
        if star is not None:
            ctx.report(
                star,
                'TrustedHostMiddleware with allowed_hosts=["*"] accepts any Host header and '
                "checks nothing: list the service's real hostnames",
            )
        return
    if ctx.function is not None or ctx.classes or not isinstance(node, ast.Assign | ast.AnnAssign):
        return
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    if not any(isinstance(t, ast.Name) and t.id == "ALLOWED_HOSTS" for t in targets):
        return
    value = node.value
    if isinstance(value, ast.IfExp) and _dev_guard(value.test, ctx):
        return
    star = _wildcard(value, ctx)
    if star is None or _under_dev_guard(node, ctx):
        return
    ctx.report(
        star,
        'ALLOWED_HOSTS contains "*": any Host header is accepted, so password-reset links and '
        "redirects can be pointed at an attacker's domain. List the real hostnames",
        unless=HOST_CHECKED_BY_PROJECT,
    )


def _under_dev_guard(node: ast.stmt, ctx: PythonContext) -> bool:
    """The module-level statement sits in an ``if DEBUG:`` (or dev environment) branch."""
    pending: list[tuple[ast.stmt, bool]] = [(s, False) for s in ctx.tree.body]
    while pending:
        statement, guarded = pending.pop()
        if statement is node:
            return guarded
        if isinstance(statement, ast.If):
            dev = _dev_guard(statement.test, ctx)
            pending.extend((s, guarded or dev) for s in statement.body)
            pending.extend((s, guarded) for s in statement.orelse)
        elif isinstance(statement, ast.Try | ast.With):
            pending.extend((s, guarded) for s in statement.body)
    return False
