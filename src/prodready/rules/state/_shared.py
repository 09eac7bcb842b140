"""State: analysis several state rules share."""

from __future__ import annotations

import ast
import re

from prodready.plugin import PythonContext
from prodready.plugin.analysis import loaded_names

# Names of module-level containers STA001 leaves to the cache rule (STA003).
SHARED_STATE_EXEMPT_HINTS = ("cache", "memo", "lru")


def _state_root(expr: ast.expr) -> ast.Name | None:
    """``STATE`` for ``STATE``, ``STATE[k]``, ``STATE[k][j]``."""
    while isinstance(expr, ast.Subscript):
        expr = expr.value
    return expr if isinstance(expr, ast.Name) else None


def declaration(ctx: PythonContext, name: str) -> ast.stmt | None:
    """The module-level statement that binds ``name`` (a container: the line
    ``facts.mutable_globals`` holds; another global: its first assignment), also inside a
    top-level ``if``/``try``/``with``."""
    line = ctx.facts.mutable_globals.get(name)
    pending: list[ast.stmt] = list(reversed(ctx.tree.body))
    while pending:
        statement = pending.pop()
        if isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            named = any(isinstance(t, ast.Name) and t.id == name for t in targets)
            if named and (line is None or statement.lineno == line):
                return statement
        elif isinstance(statement, ast.If | ast.Try | ast.TryStar | ast.With):
            block: list[ast.stmt] = []
            for child in ast.iter_child_nodes(statement):
                if isinstance(child, ast.stmt):
                    block.append(child)
                elif isinstance(child, ast.ExceptHandler):
                    block.extend(child.body)
            pending.extend(reversed(block))
    return None


# Parameter words that name a value with one entry per user, request or message.
PER_REQUEST_TOKENS = frozenset(
    {"user", "username", "email", "session", "token", "ip", "request", "req", "query", "search"}
    | {"url", "uri", "customer", "account", "visitor", "phone", "prompt", "payload", "body"}
    | {"message", "order", "cart", "tenant", "jwt", "cookie", "headers", "address", "sid"}
    | {"uid", "q", "text", "input", "filename", "upload", "term"}
)
# Words that name a row of a growing table: one key per row, as many as the data has.
_ROW_KEY_TOKENS = frozenset({"id", "ids", "pk", "uuid", "guid", "slug"})


def _tokens(name: str) -> list[str]:
    return [token for token in re.split(r"_+", name.lower()) if token]


def per_request_name(name: str) -> bool:
    """A name for a per-request value (``user_id``, ``email``, ``query``)."""
    return any(token in PER_REQUEST_TOKENS for token in _tokens(name))


def row_key_name(name: str) -> bool:
    """A name for a row identifier (``device_id``, ``event_uuid``, ``pk``, ``deviceId``)."""
    tokens = _tokens(name)
    return any(token in _ROW_KEY_TOKENS for token in tokens) or bool(
        tokens and re.search(r"[a-z]Id$|[a-z]ID$", name)
    )


def open_key(key: ast.AST, ctx: PythonContext) -> str | None:
    """The name that makes a container key open-ended, or None (see :func:`key_space`)."""
    found = key_space(key, ctx)
    return found[0] if found is not None else None


def key_space(key: ast.AST, ctx: PythonContext) -> tuple[str, str] | None:
    """Why a container key is open-ended: ``(name, "request")`` for a key built in the current
    function from a parameter (directly or through locals) that names a per-request value,
    ``(name, "row")`` for a row identifier, ``("a x b", "combination")`` for a key combining
    two or more parameters (one entry per combination: pickup x dropoff); None otherwise -- a
    key from one parameter of a code-bounded domain (a template name, a language) is not
    open."""
    scope = ctx.function
    if scope is None:
        return None
    params = {param.arg for param in scope.params} - {"self", "cls"}
    names = loaded_names(key)
    seen: set[str] = set()
    derived: list[str] = []  # locals the key passes through, nearest first
    frontier = list(names)
    while frontier:
        name = frontier.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in params:
            continue
        value = ctx.value_of(name)
        if value is not None and name not in ctx.facts.constants:
            derived.append(name)
            frontier.extend(loaded_names(value))
    # A parameter that is called is a class or factory the caller hands in (a registry's
    # entry), not data with one value per request.
    called = {
        callee_or_identity
        for expr in [key, *(ctx.value_of(name) for name in derived)]
        if expr is not None
        for node in ast.walk(expr)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        # ``id(client)``: the identity of an object the process made (one per client), not data
        for callee_or_identity in [node.func.id, *_identity_of(node)]
    }
    used = sorted((seen & params) - called)
    if used:
        for name in [*used, *derived]:
            if per_request_name(name):
                return name, "request"
        for name in [*used, *derived]:
            if row_key_name(name):
                return name, "row"
    generated = _generated(key, ctx, derived)
    if generated is not None:
        return generated, "generated"
    if len(used) >= 2:
        return " x ".join(used), "combination"
    return None


# Calls that make a new value on every call: a key built on one adds an entry per call.
_GENERATORS = ("uuid.", "secrets.token_", "time.time", "time.monotonic", "time.time_ns")


def _generated(key: ast.AST, ctx: PythonContext, derived: list[str]) -> str | None:
    """The name of a key (or of the local it comes from) made by a call that returns a new
    value every time: ``uuid4()``, ``secrets.token_urlsafe()``, ``time.time()``."""
    candidates: list[tuple[str, ast.AST]] = [(ctx.segment(key), key)]
    for name in derived:
        value = ctx.value_of(name)
        if value is not None:
            candidates.append((name, value))
    for label, expr in candidates:
        for node in ast.walk(expr):
            if isinstance(node, ast.Call):
                callee = ctx.qualname(node.func) or ""
                if callee.startswith(_GENERATORS):
                    return label
    return None


def field_of_parameter(key: ast.AST, ctx: PythonContext) -> bool:
    """The key is read out of data the function received -- a field of a parameter
    (``event["event_id"]``, ``msg.id``, ``payload.get("id")`` with ``payload =
    json.loads(record.value())``) -- not an identifier the caller chose and passed as is."""
    scope = ctx.function
    if scope is None:
        return False
    params = {param.arg for param in scope.params} - {"self", "cls"}
    from_params = set(params)
    pending: list[ast.AST] = [key]
    seen: set[str] = set()
    fields: list[ast.AST] = []
    while pending:
        expr = pending.pop()
        for node in ast.walk(expr):
            if isinstance(node, ast.Subscript | ast.Attribute):
                fields.append(node.value)
            elif isinstance(node, ast.Name) and node.id not in seen and node.id not in params:
                seen.add(node.id)
                value = ctx.value_of(node.id)
                if value is not None and node.id not in ctx.facts.constants:
                    pending.append(value)
                    if loaded_names(value) & from_params:
                        from_params.add(node.id)
    for base in fields:
        while isinstance(base, ast.Subscript | ast.Attribute | ast.Call):
            base = base.func if isinstance(base, ast.Call) else base.value
        if isinstance(base, ast.Name) and base.id in from_params:
            return True
    return False


def _identity_of(call: ast.Call) -> list[str]:
    """The parameter ``id(name)`` takes the identity of."""
    if isinstance(call.func, ast.Name) and call.func.id == "id" and len(call.args) == 1:
        argument = call.args[0]
        return [argument.id] if isinstance(argument, ast.Name) else []
    return []
