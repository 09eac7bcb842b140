"""Resilience: defaults a project installs for every outbound call (the project facts RES001
findings name as making them moot)."""

from __future__ import annotations

import ast

from prodready.plugin import ProjectFact, PythonContext
from prodready.plugin.analysis import is_none

REQUESTS_DEFAULT_TIMEOUT = ProjectFact(
    "requests-default-timeout",
    "requests calls get a default timeout: HTTPAdapter.send or Session.request/send is replaced "
    "by a wrapper that sets one when none is given",
)
SOCKET_DEFAULT_TIMEOUT = ProjectFact(
    "socket-default-timeout",
    "socket.setdefaulttimeout(n): sockets opened without a timeout get one (urllib, http.client, "
    "urllib3; not requests, which passes None down)",
)

# What a project replaces to give every requests call a default timeout: every verb goes through
# Session.request, then Session.send, then the mounted adapter's send.
DEFAULT_TIMEOUT_PATCHES = (
    "requests.adapters.HTTPAdapter.send",
    "requests.Session.request",
    "requests.Session.send",
    "requests.sessions.Session.request",
    "requests.sessions.Session.send",
)
_PARTIALS = frozenset({"functools.partial", "functools.partialmethod"})


def record_default_timeout(node: ast.AST, ctx: PythonContext) -> None:
    """``socket.setdefaulttimeout(n)`` with a value, or ``HTTPAdapter.send = wrapper`` whose
    wrapper sets ``timeout``: record the fact for the project."""
    if isinstance(node, ast.Call):
        value = node.args[0] if node.args else None
        if value is not None and not is_none(value):
            ctx.establish(SOCKET_DEFAULT_TIMEOUT)
        return
    if not isinstance(node, ast.Attribute) or not isinstance(node.ctx, ast.Store):
        return
    assignment = ctx.parent(node)
    if not isinstance(assignment, ast.Assign) or node not in assignment.targets:
        return
    if _sets_timeout(assignment.value, ctx):
        ctx.establish(REQUESTS_DEFAULT_TIMEOUT)


def _sets_timeout(value: ast.expr, ctx: PythonContext) -> bool:
    """Whether the replacement gives ``timeout`` a value when the caller gave none."""
    if isinstance(value, ast.Call) and ctx.qualname(value.func) in _PARTIALS:
        return any(k.arg == "timeout" and _supplies(k.value) for k in value.keywords)
    if isinstance(value, ast.Lambda):
        return _body_sets_timeout(value)
    if isinstance(value, ast.Name):
        scope = ctx.function.node if ctx.function is not None else ctx.tree
        for candidate in ast.walk(scope):
            if (
                isinstance(candidate, ast.FunctionDef | ast.AsyncFunctionDef)
                and candidate.name == value.id
            ):
                return _body_sets_timeout(candidate)
    return False


def _body_sets_timeout(function: ast.AST) -> bool:
    """``timeout = timeout or 30``, ``if timeout is None: timeout = 30``,
    ``kwargs.setdefault("timeout", 30)``, ``kwargs["timeout"] = 30`` or a call passing
    ``timeout=<a value>`` on: a wrapper that only logs and passes ``timeout`` through sets
    nothing."""
    for node in ast.walk(function):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if (
                node.value is not None
                and _supplies(node.value)
                and any(_names_timeout(target) for target in targets)
            ):
                return True
        elif isinstance(node, ast.Call):
            if any(k.arg == "timeout" and _supplies(k.value) for k in node.keywords):
                return True
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "setdefault"
                and len(node.args) == 2
                and _is_timeout_key(node.args[0])
                and _supplies(node.args[1])
            ):
                return True
    return False


def _names_timeout(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return target.id == "timeout"
    return isinstance(target, ast.Subscript) and _is_timeout_key(target.slice)


def _is_timeout_key(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value == "timeout"


def _supplies(value: ast.expr) -> bool:
    """A value that is not None and not the caller's timeout passed on unchanged."""
    if is_none(value) or (isinstance(value, ast.Name) and value.id == "timeout"):
        return False
    # kwargs.get("timeout"): what the caller gave, or None
    return not (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr in {"get", "pop"}
        and len(value.args) < 2
    )
