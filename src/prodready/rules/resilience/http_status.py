"""Resilience: responses of other services read without checking their status (RES011)."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from prodready.plugin import (
    Category,
    Confidence,
    ModuleMemo,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import constant_str, dotted, keyword_value
from prodready.rules.resilience._shared import _REQUESTS_CALLS, _VERBS, PRODUCTION_ROLES

_SEND_VERBS = (*_VERBS, "stream", "send")
_HTTPX_CALLS = (
    *(f"httpx.{verb}" for verb in (*_VERBS, "stream")),
    *(f"httpx.Client.{verb}" for verb in _SEND_VERBS),
    *(f"httpx.AsyncClient.{verb}" for verb in _SEND_VERBS),
)
_AIOHTTP_CALLS = (*(f"aiohttp.ClientSession.{verb}" for verb in _VERBS), "aiohttp.request")

# Reading what the other service answered.
_BODY_READS = frozenset(
    {"json", "text", "content", "read", "raw", "iter_content", "iter_lines", "iter_bytes"}
    | {"iter_text", "iter_raw", "aread", "aiter_bytes", "aiter_lines", "aiter_text"}
)
# Looking at whether it succeeded.
_STATUS_READS = frozenset(
    {"raise_for_status", "status_code", "status", "ok", "is_success", "is_error", "reason"}
    | {"is_client_error", "is_server_error", "is_redirect", "status_text"}
)
# Other attributes of a response: reading them neither reads the body nor checks the status.
_NEUTRAL_READS = frozenset(
    {"headers", "url", "cookies", "elapsed", "history", "request", "encoding", "close"}
    | {"release", "links", "charset", "content_type", "real_url", "apparent_encoding"}
)
# Keys of a parsed body that report the outcome in the body itself (Slack's ``ok``, an
# ``error`` object): checking one is checking whether the call succeeded.
_OUTCOME_KEYS = frozenset({"error", "errors", "err", "ok", "success", "status", "error_code"})


@dataclass(frozen=True, slots=True)
class _Library:
    name: str
    check: str  # how to check the status with it


_REQUESTS = _Library("requests", "call resp.raise_for_status() (or check resp.status_code)")
_HTTPX = _Library(
    "httpx",
    "call resp.raise_for_status() (or check resp.is_success), or give the client an event "
    "hook that raises",
)
_AIOHTTP = _Library(
    "aiohttp",
    "call resp.raise_for_status() (or check resp.status), or create the ClientSession with "
    "raise_for_status=True",
)


def _library(callee: str) -> _Library:
    if callee.startswith("httpx."):
        return _HTTPX
    if callee.startswith("aiohttp."):
        return _AIOHTTP
    return _REQUESTS


@python_rule(
    code="RES011",
    name="unchecked-http-status",
    category=Category.RESILIENCE,
    roles=PRODUCTION_ROLES,
    severity=Severity.MEDIUM,
    summary="Response of another service read without checking its HTTP status",
    calls=(*_REQUESTS_CALLS, *_HTTPX_CALLS, *_AIOHTTP_CALLS),
    fix="Call resp.raise_for_status() (or check the status) before reading the body.",
)
def unchecked_http_status(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags the body of a response from another service -- `resp.json()`, `resp.text`,
    `resp.content`, `await resp.json()`, `resp.iter_content()` -- read when nothing in the
    function looks at whether the call succeeded: no `raise_for_status()`, no
    `status_code`/`status`/`ok`/`is_success` check, no `if resp:`, no check of an outcome key
    of the parsed body (`data["ok"]`, `"error" in data`). It covers `requests` (functions and
    sessions), `httpx` (sync and async clients) and `aiohttp` (`ClientSession` requests). A
    response handed to another function or returned to the caller is not reported (the caller
    may check it), nor are clients that raise by themselves: an `httpx` client with
    `event_hooks`, a `requests` session with a response hook, an `aiohttp` session or request
    with `raise_for_status=`.

    Evidence tier: a server-sent-events reader that uses only the lines framed as events
    (`for line in r.aiter_lines(): if line.startswith("data:")`) skips an error body instead
    of taking it for data; it is reported low, confidence low (the stream still ends unsaid).

    ## Why it breaks production
    `requests`, `httpx` and `aiohttp` do not raise on 4xx and 5xx answers. When the other
    service is down, overloaded or rejects the call, its error body -- `{"detail": "Not
    found"}`, an HTML 502 page from a proxy -- is parsed as if it were the data: the code
    fails later with a `KeyError` or a `JSONDecodeError` far from the cause, or worse goes on
    with the error object, stores it or reports success to its own client. Retries and
    circuit breakers built on exceptions never see the failure.

    ## Example
    ```python
    def exchange_rate(currency: str) -> float:
        resp = requests.get(f"{RATES_URL}/rates/{currency}", timeout=5)
        return resp.json()["rate"]
    ```

    ## Use instead
    ```python
    def exchange_rate(currency: str) -> float:
        resp = requests.get(f"{RATES_URL}/rates/{currency}", timeout=5)
        resp.raise_for_status()  # requests.HTTPError names the status and the URL
        return resp.json()["rate"]
    ```
    """
    if ctx.facts.is_test:
        return
    callee = ctx.call_name or ""
    library = _library(callee)
    if _raises_by_itself(node, library, ctx):
        return
    parents = ctx.parents()
    holder = parents.get(id(node))
    result: ast.expr = node
    if isinstance(holder, ast.Await):
        result, holder = holder, parents.get(id(holder))
    if isinstance(holder, ast.Attribute) and holder.value is result:
        if holder.attr in _BODY_READS:  # ``requests.get(url).json()``
            _report(node, _read_node(holder, parents), None, library, ctx)
        return
    name = _bound_name(result, holder)
    scope = ctx.function
    if name is None or scope is None:
        return
    read = _unchecked_read(name, node, scope.node, parents)
    if read is not None:
        _report(node, read, name, library, ctx)


def _report(
    call: ast.Call, read: ast.expr, name: str | None, library: _Library, ctx: PythonContext
) -> None:
    from prodready.rules.error_handling.trusted_responses import taken_as_success  # a cycle

    if taken_as_success(call, ctx):
        return  # a write whose answer is taken as done: ERR009 reports it, at medium
    attribute = read.func if isinstance(read, ast.Call) else read
    assert isinstance(attribute, ast.Attribute)
    called = "()" if isinstance(read, ast.Call) else ""
    what = ctx.segment(call.func)
    if name is None:  # read straight off the call
        reading = f"`{what}(...).{attribute.attr}{called}` reads the answer"
        advice = f"Bind the response and {library.check}"
    else:
        reading = f"`{name}.{attribute.attr}{called}` reads the answer of {what}()"
        advice = f"Before reading it, {library.check}"
    if _event_framed(read, ctx):
        ctx.report(
            read,
            f"{reading} without checking its status: only lines framed as events (`data:`) "
            "are used, so an error body is skipped rather than taken for data -- but the "
            f"stream then ends without saying why. {advice}: reported low",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    if _parse_failure_handled(read, ctx):
        ctx.report(
            read,
            f"{reading} without checking its status: an error answer most likely ends in the "
            "surrounding except (its body fails to parse or lacks what is read), but the "
            "handler cannot tell a 4xx from a 5xx and what it logs names a parse error, not "
            f"the status. {advice}",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    ctx.report(
        read,
        f"{reading} without checking its status: {library.name} does not raise on 4xx/5xx, "
        "so an error body (or a proxy's HTML error page) is taken for the data and the "
        f"failure surfaces later, far from its cause. {advice}",
    )


# Handlers that catch what parsing an error body raises (requests' JSONDecodeError is a
# RequestException; aiohttp's ContentTypeError a ClientError).
_PARSE_ERRORS = frozenset(
    {"Exception", "BaseException", "ValueError", "JSONDecodeError", "KeyError", "TypeError"}
    | {"RequestException", "ContentTypeError", "ClientError", "DecodeError"}
)


def _parse_failure_handled(read: ast.expr, ctx: PythonContext) -> bool:
    """The body is parsed (``.json()``, ``json.loads``) inside a ``try`` whose handler
    catches what parsing (or indexing) an error body raises."""
    parents = ctx.parents()
    child: ast.AST = read
    parent = parents.get(id(read))
    while parent is not None and not isinstance(parent, _NESTED_SCOPES):
        if (
            isinstance(parent, ast.Try | ast.TryStar)
            and any(child is statement for statement in parent.body)
            and any(_catches_parse_errors(handler) for handler in parent.handlers)
            and any(_parses(node) for statement in parent.body for node in ast.walk(statement))
        ):
            return True
        child, parent = parent, parents.get(id(parent))
    return False


def _catches_parse_errors(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any((dotted(c) or "").rsplit(".", 1)[-1] in _PARSE_ERRORS for c in caught)


def _parses(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute | ast.Name)
        and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
        in {"json", "loads"}
    )


def _read_node(attribute: ast.Attribute, parents: dict[int, ast.AST]) -> ast.expr:
    """The expression that reads the body: the call of a method (``resp.json()``), else the
    attribute (``resp.content``)."""
    parent = parents.get(id(attribute))
    if isinstance(parent, ast.Call) and parent.func is attribute:
        return parent
    return attribute


def _bound_name(result: ast.expr, holder: ast.AST | None) -> str | None:
    """The local name the response is bound to: ``resp = ...``, ``resp: Response = ...``,
    ``with ... as resp``."""
    if isinstance(holder, ast.Assign) and len(holder.targets) == 1:
        target = holder.targets[0]
        return target.id if isinstance(target, ast.Name) else None
    if isinstance(holder, ast.AnnAssign) and isinstance(holder.target, ast.Name):
        return holder.target.id
    if isinstance(holder, ast.withitem) and holder.context_expr is result:
        variable = holder.optional_vars
        return variable.id if isinstance(variable, ast.Name) else None
    return None


_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _unchecked_read(
    name: str, call: ast.Call, function: ast.AST, parents: dict[int, ast.AST]
) -> ast.expr | None:
    """The first read of the body of response ``name`` (bound from ``call``) in ``function``
    when nothing there checks its status and it does not leave the function (None
    otherwise). Uses after the name is bound again (``r = r.json()``) are of another value."""
    loads, stores = _scope_names(function, name)
    rebinding = _next_binding(stores, call, parents)
    reads: list[ast.expr] = []
    parsed: set[str] = set()  # names the parsed body is bound to (``data = resp.json()``)
    if rebinding is not None and _reads_body(_bound_value(rebinding), name):
        parsed.add(name)
    loops = _enclosing_loops(call, parents)
    for node in loads:
        if node is None:
            return None  # used by a nested function: out of sight
        if rebinding is not None and _after(node, rebinding):
            continue
        if node.lineno < call.lineno and not loops.intersection(_enclosing_loops(node, parents)):
            continue  # runs before the call, never again after it: an earlier value
        parent = parents.get(id(node))
        if isinstance(parent, ast.Attribute):
            if parent.attr in _STATUS_READS:
                return None
            if parent.attr in _BODY_READS:
                read = _read_node(parent, parents)
                reads.append(read)
                parsed.update(_bound_names(read, parents))
                continue
            if parent.attr in _NEUTRAL_READS:
                continue
            return None  # an attribute rules do not know: a subclass, a wrapper
        # Anything else -- returned, handed to a function, stored, tested (``if resp:``; a
        # requests Response is its ``ok``) -- may check the status out of sight.
        return None
    if not reads or (parsed and _outcome_checked(function, parsed)):
        return None
    return min(reads, key=lambda read: (read.lineno, read.col_offset))


def _enclosing_loops(node: ast.AST, parents: dict[int, ast.AST]) -> set[int]:
    found: set[int] = set()
    parent = parents.get(id(node))
    while parent is not None and not isinstance(parent, _NESTED_SCOPES):
        if isinstance(parent, ast.For | ast.AsyncFor | ast.While):
            found.add(id(parent))
        parent = parents.get(id(parent))
    return found


def _scope_names(function: ast.AST, name: str) -> tuple[list[ast.Name | None], list[ast.Name]]:
    """Every load of ``name`` in the body of ``function`` (None for one inside a nested
    function or class) and every binding of it there."""
    loads: list[ast.Name | None] = []
    stores: list[ast.Name] = []
    pending: list[tuple[ast.AST, bool]] = [
        (child, False) for child in ast.iter_child_nodes(function)
    ]
    while pending:
        node, nested = pending.pop()
        if isinstance(node, ast.Name) and node.id == name:
            if isinstance(node.ctx, ast.Load):
                loads.append(None if nested else node)
            elif not nested:
                stores.append(node)
        inner = nested or isinstance(node, _NESTED_SCOPES)
        pending.extend((child, inner) for child in ast.iter_child_nodes(node))
    return loads, stores


def _next_binding(
    stores: list[ast.Name], call: ast.Call, parents: dict[int, ast.AST]
) -> ast.stmt | None:
    """The statement that binds the name again after the line of ``call``."""
    later = [store for store in stores if store.lineno > call.end_lineno]  # type: ignore[operator]
    if not later:
        return None
    node: ast.AST | None = min(later, key=lambda store: (store.lineno, store.col_offset))
    while node is not None and not isinstance(node, ast.stmt):
        node = parents.get(id(node))
    return node


def _bound_value(statement: ast.stmt) -> ast.expr | None:
    """What a binding statement evaluates before it binds."""
    if isinstance(statement, ast.Assign | ast.AnnAssign | ast.AugAssign):
        return statement.value
    if isinstance(statement, ast.For | ast.AsyncFor):
        return statement.iter
    return None


def _after(load: ast.Name, statement: ast.stmt) -> bool:
    """``load`` runs after ``statement`` binds the name again (not in what it evaluates)."""
    value = _bound_value(statement)
    if value is not None and _within(load, value):
        return False
    return (load.lineno, load.col_offset) >= (statement.lineno, statement.col_offset)


def _within(node: ast.AST, outer: ast.AST) -> bool:
    start = (outer.lineno, outer.col_offset)  # type: ignore[attr-defined]
    end = (outer.end_lineno, outer.end_col_offset)  # type: ignore[attr-defined]
    return start <= (node.lineno, node.col_offset) < end  # type: ignore[attr-defined]


def _reads_body(value: ast.expr | None, name: str) -> bool:
    """``resp.json()``, ``await resp.json()``, ``resp.text``: the body of ``name``."""
    if isinstance(value, ast.Await):
        value = value.value
    if isinstance(value, ast.Call):
        value = value.func
    return (
        isinstance(value, ast.Attribute)
        and value.attr in _BODY_READS
        and isinstance(value.value, ast.Name)
        and value.value.id == name
    )


def _bound_names(read: ast.expr, parents: dict[int, ast.AST]) -> set[str]:
    holder = parents.get(id(read))
    if isinstance(holder, ast.Await):
        holder = parents.get(id(holder))
    if isinstance(holder, ast.Assign):
        return {t.id for t in holder.targets if isinstance(t, ast.Name)}
    if isinstance(holder, ast.AnnAssign) and isinstance(holder.target, ast.Name):
        return {holder.target.id}
    return set()


def _outcome_checked(function: ast.AST, parsed: set[str]) -> bool:
    """The parsed body's own outcome is looked at: ``data["ok"]``, ``data.get("error")``,
    ``"errors" in data``."""
    return any(_outcome_key(node, parsed) in _OUTCOME_KEYS for node in ast.walk(function))


def _outcome_key(node: ast.AST, parsed: set[str]) -> str | None:
    """The key of a parsed body ``node`` reads or tests, if any."""
    if isinstance(node, ast.Subscript) and _is_one_of(node.value, parsed):
        return constant_str(node.slice)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and _is_one_of(node.func.value, parsed)
        and node.args
    ):
        return constant_str(node.args[0])
    if (
        isinstance(node, ast.Compare)
        and isinstance(node.ops[0], ast.In | ast.NotIn)
        and _is_one_of(node.comparators[0], parsed)
    ):
        return constant_str(node.left)
    return None


def _is_one_of(expr: ast.expr, names: set[str]) -> bool:
    return isinstance(expr, ast.Name) and expr.id in names


def _raises_by_itself(call: ast.Call, library: _Library, ctx: PythonContext) -> bool:
    """The client raises on an error status by itself: an aiohttp request or session with
    ``raise_for_status=``, an httpx client with ``event_hooks``, a requests session with a
    response hook -- configured in this module (where the client is built)."""
    if library is _AIOHTTP and _raise_for_status(call):
        return True
    client = _client_built_here(call, ctx) if library in (_AIOHTTP, _HTTPX) else None
    if client is not None:  # the client this request is made on is built in this function
        if library is _AIOHTTP:
            return _raise_for_status(client)
        if keyword_value(client, "event_hooks") is not None:
            return True
        if not _hooks_set_later(ctx):
            return False
    return library.name in ctx.memo(_SELF_RAISING)


def _hooks_set_later(ctx: PythonContext) -> bool:
    """``client.event_hooks = {...}`` in the function: hooks added after the client is built."""
    scope = ctx.function
    return scope is not None and any(
        isinstance(node, ast.Attribute) and node.attr == "event_hooks"
        for node in ast.walk(scope.node)
    )


def _client_built_here(call: ast.Call, ctx: PythonContext) -> ast.Call | None:
    """The constructor of the session or client the request ``call`` is made on, when this
    function builds it (``async with aiohttp.ClientSession(...) as session``, ``client =
    httpx.Client(...)``): that client alone decides whether the request raises, not another
    one built elsewhere in the module."""
    receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
    scope = ctx.function
    if not isinstance(receiver, ast.Name) or scope is None:
        return None
    found: ast.Call | None = None
    for node in ast.walk(scope.node):
        if isinstance(node, ast.withitem):
            target, value = node.optional_vars, node.context_expr
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if (
            isinstance(target, ast.Name)
            and target.id == receiver.id
            and isinstance(value, ast.Call)
            and (dotted(value.func) or "").endswith(_CLIENT_CLASSES)
            and value.lineno <= call.lineno
        ):
            found = value
    return found


_CLIENT_CLASSES = ("ClientSession", "AsyncClient", "Client")


def _self_raising_clients(ctx: PythonContext) -> frozenset[str]:
    source = ctx.source
    found: set[str] = set()
    if "event_hooks" in source:
        found.add("httpx")
    if "hooks" in source and "response" in source:
        found.add("requests")
    if "raise_for_status" in source and any(
        isinstance(node, ast.Call)
        and (dotted(node.func) or "").endswith("ClientSession")
        and _raise_for_status(node)
        for node in ast.walk(ctx.tree)
    ):
        found.add("aiohttp")
    return frozenset(found)


def _raise_for_status(call: ast.Call) -> bool:
    """``raise_for_status=True`` (or a callable) on an aiohttp session or request."""
    value = keyword_value(call, "raise_for_status")
    return value is not None and not (
        isinstance(value, ast.Constant) and value.value in (False, None)
    )


_SELF_RAISING: ModuleMemo[frozenset[str]] = ModuleMemo("RES011:hooks", _self_raising_clients)


def _event_framed(read: ast.expr, ctx: PythonContext) -> bool:
    """``for line in r.aiter_lines(): if line.startswith("data:"): ...`` (or ``if not
    line.startswith("data:"): continue``): a server-sent-events reader that uses only the
    lines framed as events, which an error body does not have."""
    if not (
        isinstance(read, ast.Call)
        and isinstance(read.func, ast.Attribute)
        and read.func.attr in {"aiter_lines", "iter_lines"}
    ):
        return False
    loop = ctx.parent(read)
    if not (
        isinstance(loop, ast.For | ast.AsyncFor)
        and loop.iter is read
        and isinstance(loop.target, ast.Name)
    ):
        return False
    line = loop.target.id
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "startswith"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == line
        and node.args
        and (constant_str(node.args[0]) or "").rstrip().endswith(":")
        for statement in loop.body
        for node in ast.walk(statement)
    )
