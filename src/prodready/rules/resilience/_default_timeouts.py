"""Resilience: defaults a project installs for every outbound call (the project facts RES001
findings name as making them moot)."""

from __future__ import annotations

import ast

from prodready.plugin import ModuleMemo, ProjectFact, PythonContext
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


# -- a project adapter that defaults the timeout, mounted on a session ----------------------------

_HTTP_ADAPTERS = frozenset({"requests.adapters.HTTPAdapter", "requests.HTTPAdapter"})


def timeout_adapter(qualified_class: str) -> ProjectFact:
    """The fact that the project's adapter class ``qualified_class`` defaults the timeout of
    what it sends: sessions that mount it are bounded."""
    return ProjectFact(
        f"requests-timeout-adapter:{qualified_class}",
        f"{qualified_class} (an HTTPAdapter) sets a timeout on requests sent without one",
    )


def record_timeout_adapter(node: ast.ClassDef, ctx: PythonContext) -> None:
    """``class TimeoutAdapter(HTTPAdapter)`` at module level whose ``send`` sets ``timeout``."""
    if ctx.function is not None or len(ctx.classes) > 1:
        return  # a nested class has no importable name
    if not any(ctx.qualname(base) in _HTTP_ADAPTERS for base in node.bases):
        return
    for method in node.body:
        if (
            isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef)
            and method.name == "send"
            and _body_sets_timeout(method)
        ):
            ctx.establish(timeout_adapter(f"{ctx.module}.{node.name}"))
            return


def mounted_adapters(call: ast.Call, ctx: PythonContext) -> tuple[str, ...]:
    """The qualified classes of the adapters mounted on the session ``call`` is made through
    (``session.mount("https://", TimeoutAdapter())``, or an adapter assigned first): the same
    local name in the same function (or a module-level one), or the same attribute
    (``self.session``) anywhere in the module."""
    receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
    if receiver is None:
        return ()
    mounts = ctx.memo(_MOUNTS)
    if not mounts:
        return ()
    text = ast.unparse(receiver)
    here = id(ctx.function.node) if ctx.function is not None else None
    local = isinstance(receiver, ast.Name)
    return tuple(
        sorted(
            {
                adapter
                for function, mounted_on, adapter in mounts
                if mounted_on == text and (not local or function in (here, None))
            }
        )
    )


_Mount = tuple[int | None, str, str]  # (id of the enclosing function, receiver text, class)


def _mounts_in(ctx: PythonContext) -> list[_Mount]:
    if ".mount(" not in ctx.source:
        return []
    classes = {node.name for node in ctx.tree.body if isinstance(node, ast.ClassDef)}
    found: list[_Mount] = []

    def walk(body: ast.AST, function: int | None) -> None:
        built: dict[str, ast.expr] = {}  # name -> the callee of the call assigned to it
        for node in _own_nodes(body):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                walk(node, id(node))
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        built[target.id] = node.value.func
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "mount"
                and len(node.args) == 2
            ):
                adapter = node.args[1]
                callee = adapter.func if isinstance(adapter, ast.Call) else None
                if isinstance(adapter, ast.Name):
                    callee = built.get(adapter.id)
                name = _module_level_name(callee, ctx, classes) if callee is not None else None
                if name is not None:
                    found.append((function, ast.unparse(node.func.value), name))

    walk(ctx.tree, None)
    return found


def _own_nodes(scope: ast.AST) -> list[ast.AST]:
    """The nodes of a scope in source order, nested function bodies left out (their defs in)."""
    nodes: list[ast.AST] = []
    pending = list(ast.iter_child_nodes(scope))
    pending.reverse()
    while pending:
        node = pending.pop()
        nodes.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            children = list(ast.iter_child_nodes(node))
            children.reverse()
            pending.extend(children)
    return nodes


def _module_level_name(callee: ast.expr, ctx: PythonContext, classes: set[str]) -> str | None:
    """A callee's qualified name through the module's imports (a class of this module: by the
    module's name)."""
    parts: list[str] = []
    while isinstance(callee, ast.Attribute):
        parts.append(callee.attr)
        callee = callee.value
    if not isinstance(callee, ast.Name):
        return None
    bound = ctx.facts.bindings.get(callee.id)
    if isinstance(bound, str):
        root = bound
    elif callee.id in classes:
        root = f"{ctx.module}.{callee.id}"
    else:
        return None
    return ".".join([root, *reversed(parts)])


_MOUNTS: ModuleMemo[list[_Mount]] = ModuleMemo("RES001:mounts", _mounts_in)
