"""Error handling: the answer of a write to another service taken as its success without a
look at the status (ERR009)."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from prodready.plugin import Category, Confidence, PythonContext, Role, Severity, python_rule
from prodready.plugin.analysis import constant, constant_str, keyword_value
from prodready.rules.error_handling.errors_as_success import (
    _DONE_FLAGS,
    _DONE_WORDS,
    _STATUS_FIELDS,
    _done_word,
    _success_payload,
    _success_record,
)
from prodready.rules.resilience._shared import _REQUESTS_CALLS
from prodready.rules.resilience.http_status import (
    _AIOHTTP_CALLS,
    _BODY_READS,
    _HTTPX_CALLS,
    _NESTED_SCOPES,
    _NEUTRAL_READS,
    _STATUS_READS,
    _bound_name,
    _library,
    _outcome_checked,
    _raises_by_itself,
)

_WRITE_VERBS = frozenset({"post", "put", "patch", "delete"})
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Queryset/collection writes whose keywords state the record's new outcome.
_KEYWORD_WRITES = frozenset({"update", "update_one", "update_many", "filter_update"})


def _writes(call: ast.Call, callee: str) -> bool:
    """A request that changes something on the other side: POST/PUT/PATCH/DELETE."""
    verb = callee.rsplit(".", 1)[-1]
    if verb in _WRITE_VERBS:
        return True
    if verb == "request" and call.args:
        return (constant_str(call.args[0]) or "").upper() in _WRITE_METHODS
    return False


@python_rule(
    code="ERR009",
    name="unchecked-response-taken-as-success",
    category=Category.ERROR_HANDLING,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Write to another service whose status is never checked, then reported or "
    "recorded as done",
    calls=(*_REQUESTS_CALLS, *_HTTPX_CALLS, *_AIOHTTP_CALLS),
    # A management command run by cron pays salaries and settles invoices like a service.
    roles=(Role.SERVICE, Role.MANAGEMENT_COMMAND),
    fix="Check the answer before trusting it: resp.raise_for_status() (or test "
    "resp.status_code / resp.status) and record a failed state when it is not a 2xx.",
)
def unchecked_response_taken_as_success(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a POST/PUT/PATCH/DELETE to another service with `requests`, `httpx` or `aiohttp`
    whose status nothing checks (no `raise_for_status()`, no `status_code`/`status`/`ok`
    test, no test of an outcome key of the body such as `data["error"]`) when the code then
    treats the call as done:
    - it returns the parsed answer as the result (`return resp.json()`): a helper such as
      `charge()` or `submit_batch()` hands an error body to callers that take it for a
      receipt;
    - it records success after the call -- `order.status = "paid"`, `job.sent = True`,
      `Order.objects.filter(...).update(status="confirmed")`, a field stored from the
      answer (`booking.ref = resp.json().get("id", "")`) -- or returns a success payload
      (`{"status": "sent"}`).
    A helper of the module that returns the unchecked response itself
    (`return requests.post(...)`) is followed into its callers in the module, and so is a
    transport helper that posts to the endpoint its caller names and returns the parsed
    answer whole (`def _request(self, endpoint, body): ... return r.json()`): the callers
    read that answer, and one that tests it (`if answer.get("code") != 200:`) checks it. A response
    handed to another function or tested (`if resp:`) is left alone, as are clients that
    raise by themselves (`raise_for_status=True`, event hooks).

    ## Why it breaks production
    `requests`, `httpx` and `aiohttp` do not raise on 4xx/5xx. A declined charge (402), a
    rejected transfer batch (422) or a gateway outage (502) parses as a body like any other,
    `.get("id", "")` quietly yields a default, and the order is marked paid, the booking
    confirmed, the salaries submitted. Nothing retries it and nobody is told, because the
    code path is the success path. Cron jobs and workers are no exception: they move the
    same money.

    ## Example
    ```python
    def submit_refund(refund):
        resp = httpx.post(f"{PSP_URL}/refunds", json=refund.payload(), timeout=10)
        refund.psp_id = resp.json().get("id", "")
        refund.status = "completed"
        refund.save()
    ```

    ## Use instead
    ```python
    def submit_refund(refund):
        resp = httpx.post(f"{PSP_URL}/refunds", json=refund.payload(), timeout=10)
        resp.raise_for_status()  # a 4xx/5xx raises; the refund stays pending and is retried
        refund.psp_id = resp.json()["id"]
        refund.status = "completed"
        refund.save()
    ```
    """
    if ctx.facts.is_test:
        return
    callee = ctx.call_name or ""
    if not _writes(node, callee) or _raises_by_itself(node, _library(callee), ctx):
        return
    scope = ctx.function
    if scope is None:
        return
    parents = ctx.parents()
    verb = callee.rsplit(".", 1)[-1]
    use = _use_of(node, scope.node, parents)
    if use == _RETURNED_RESPONSE:
        _follow_into_callers(node, scope.node, verb, ctx)
    elif isinstance(use, _Uses) and _transport_helper(node, use, scope.node, ctx):
        _follow_parsed_into_callers(scope.node, verb, ctx)
    elif isinstance(use, _Uses):
        _report(use, node, verb, scope.node, ctx)


def _transport_helper(call: ast.Call, uses: _Uses, function: ast.AST, ctx: PythonContext) -> bool:
    """``def _request(self, endpoint, ...): r = requests.post(f"{base}/{endpoint}", ...);
    return r.json()``: a transport helper that sends to whatever endpoint its caller names and
    hands the parsed answer back whole. It cannot know what success looks like for that
    endpoint -- its callers read the answer (an error body's own status field, say) and are
    judged where they call it, as for a helper returning the response itself."""
    if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    url = call.args[0] if call.args else keyword_value(call, "url")
    if url is None or len(uses.reads) != 1:
        return False
    read = uses.reads[0]
    holder = ctx.parents().get(id(read))
    if isinstance(holder, ast.Await):
        holder = ctx.parents().get(id(holder))
    if not isinstance(holder, ast.Return):
        return False  # the whole parsed answer, returned as it came
    arguments = function.args
    params = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
    params -= {"self", "cls"}
    names = {n.id for n in ast.walk(url) if isinstance(n, ast.Name)}
    for node in _own_nodes(function):  # ``url = "{}/{}".format(base, endpoint)``
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in names for t in node.targets
        ):
            names |= {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
    return bool(names & params)


# The response itself leaves the function by ``return``: its callers decide.
_RETURNED_RESPONSE = "returned"


@dataclass(frozen=True, slots=True)
class _Uses:
    """The call's expression and the reads of its body (no status check seen)."""

    result: ast.expr
    reads: list[ast.expr]


def _use_of(call: ast.expr, function: ast.AST, parents: dict[int, ast.AST]) -> _Uses | str | None:
    """How ``function`` uses the response of ``call`` when nothing checks its status: its
    body reads, ``_RETURNED_RESPONSE``, or None when the response is checked, handed
    elsewhere or used in a way this rule does not follow."""
    result: ast.expr = call
    holder = parents.get(id(call))
    if isinstance(holder, ast.Await):
        result, holder = holder, parents.get(id(holder))
    if isinstance(holder, ast.Return):
        return _RETURNED_RESPONSE
    if isinstance(holder, ast.Expr):
        return _Uses(result, [])  # sent and forgotten: only what follows can trust it
    if isinstance(holder, ast.Attribute) and holder.value is result:
        if holder.attr not in _BODY_READS:
            return None
        read = parents.get(id(holder))
        read = read if isinstance(read, ast.Call) and read.func is holder else holder
        return _Uses(result, [read])
    name = _bound_name(result, holder)
    if name is None:
        return None
    reads: list[ast.expr] = []
    for load in _loads_after(function, name, call):
        parent = parents.get(id(load))
        if isinstance(parent, ast.Attribute):
            if parent.attr in _STATUS_READS:
                return None
            if parent.attr in _BODY_READS:
                grand = parents.get(id(parent))
                reads.append(grand if isinstance(grand, ast.Call) else parent)
                continue
            if parent.attr in _NEUTRAL_READS:
                continue
            return None
        if isinstance(parent, ast.Return) and not reads:
            return _RETURNED_RESPONSE
        return None
    return _Uses(result, reads)


def _loads_after(function: ast.AST, name: str, call: ast.expr) -> list[ast.Name]:
    """Loads of ``name`` in ``function`` (outside nested scopes) on or after the call's line,
    up to the next binding of the name."""
    own = _own_nodes(function)
    rebind = min(
        (
            node.lineno
            for node in own
            if isinstance(node, ast.Name)
            and node.id == name
            and isinstance(node.ctx, ast.Store)
            and node.lineno > (call.end_lineno or call.lineno)
        ),
        default=None,
    )
    return sorted(
        (
            node
            for node in own
            if isinstance(node, ast.Name)
            and node.id == name
            and isinstance(node.ctx, ast.Load)
            and node.lineno >= call.lineno
            and (rebind is None or node.lineno < rebind)
        ),
        key=lambda node: (node.lineno, node.col_offset),
    )


def _own_nodes(function: ast.AST) -> list[ast.AST]:
    found: list[ast.AST] = []
    pending = list(ast.iter_child_nodes(function))
    while pending:
        node = pending.pop()
        found.append(node)
        if not isinstance(node, _NESTED_SCOPES):
            pending.extend(ast.iter_child_nodes(node))
    return found


def taken_as_success(call: ast.Call, ctx: PythonContext) -> bool:
    """RES011 asks: this request's unchecked answer is ERR009's (a write whose answer the
    same function takes as done), reported there at its own severity."""
    callee = ctx.call_name or ""
    scope = ctx.function
    if scope is None or not _writes(call, callee) or _raises_by_itself(call, _library(callee), ctx):
        return False
    use = _use_of(call, scope.node, ctx.parents())
    return isinstance(use, _Uses) and _trust(use, call, scope.node, ctx) is not None


def _trust(
    uses: _Uses, call: ast.expr, function: ast.AST, ctx: PythonContext
) -> tuple[ast.AST, str] | None:
    parents = ctx.parents()
    parsed: set[str] = set().union(*(_bound_to(read, parents) for read in uses.reads))
    if parsed and (_outcome_checked(function, parsed) or _tested(function, parsed)):
        return None  # the body's own outcome is looked at
    return _trusted_at(uses, parsed, call, function, parents)


def _report(uses: _Uses, call: ast.expr, verb: str, function: ast.AST, ctx: PythonContext) -> None:
    trusted = _trust(uses, call, function, ctx)
    if trusted is None:
        return
    where, how = trusted
    what = ctx.segment(call.func) if isinstance(call, ast.Call) else "the request"
    ctx.report(
        where,
        f"The {verb.upper()} sent by {what}() is never checked for its status, yet {how}: "
        "a 4xx/5xx answer (declined, rejected, the service down) takes the success path. "
        "Call raise_for_status() (or test the status) before trusting it, and record a "
        "failed state otherwise.",
    )


def _tested(function: ast.AST, parsed: set[str]) -> bool:
    """A branch tests the parsed answer (``if data.get("id"):``, ``if "id" in data``): the
    code tells a receipt from something else."""
    for node in _own_nodes(function):
        test = node.test if isinstance(node, ast.If | ast.While | ast.IfExp | ast.Assert) else None
        if test is not None and any(
            isinstance(sub, ast.Name) and sub.id in parsed for sub in ast.walk(test)
        ):
            return True
    return False


def _bound_to(read: ast.expr, parents: dict[int, ast.AST]) -> set[str]:
    holder = parents.get(id(read))
    if isinstance(holder, ast.Await):
        holder = parents.get(id(holder))
    if isinstance(holder, ast.Assign):
        return {target.id for target in holder.targets if isinstance(target, ast.Name)}
    return set()


def _trusted_at(
    uses: _Uses,
    parsed: set[str],
    call: ast.expr,
    function: ast.AST,
    parents: dict[int, ast.AST],
) -> tuple[ast.AST, str] | None:
    """The first statement after the call that takes it as done, and how."""
    read_ids = {id(read) for read in uses.reads}
    start = call.end_lineno or call.lineno
    statements = sorted(
        (
            node
            for node in _own_nodes(function)
            if isinstance(node, ast.stmt) and not isinstance(node, _COMPOUND)
        ),
        key=lambda node: (node.lineno, node.col_offset),
    )
    for statement in statements:
        if statement.lineno < call.lineno:
            continue
        from_body = any(
            id(node) in read_ids or (isinstance(node, ast.Name) and node.id in parsed)
            for node in ast.walk(statement)
        )
        if isinstance(statement, ast.Return) and statement.value is not None:
            if from_body:
                return statement, "its answer is returned as the result"
            payload = _success_payload(statement.value)
            if payload is not None and statement.lineno > start:
                return statement, "{" + payload + "} is returned"
            continue
        if isinstance(statement, ast.Assign):
            record = _success_record(statement) or _done_flag(statement)
            if record is not None and statement.lineno > start:
                return statement, f"`{record}` records it as done"
            if from_body and any(
                isinstance(target, ast.Attribute | ast.Subscript) for target in statement.targets
            ):
                target = ast.unparse(statement.targets[0])
                return statement, f"`{target}` is stored from its answer as the outcome"
            continue
        if isinstance(statement, ast.Expr) and statement.lineno > start:
            done = _keyword_record(statement.value)
            if done is not None:
                return statement, f"`{done}` records it as done"
    return None


def _done_flag(statement: ast.Assign) -> str | None:
    """``shipment.cancelled = True``, ``job["delivered"] = True``."""
    for target in statement.targets:
        field = (
            target.attr
            if isinstance(target, ast.Attribute)
            else constant_str(target.slice)
            if isinstance(target, ast.Subscript)
            else None
        )
        if field in _DONE_WORDS and constant(statement.value) is True:
            return f"{ast.unparse(target)} = True"
    return None


_COMPOUND = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.With,
    ast.AsyncWith,
    ast.Try,
    ast.TryStar,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
)


def _keyword_record(expr: ast.expr) -> str | None:
    """``Order.objects.filter(...).update(status="paid")``, ``.update(paid=True)``."""
    if isinstance(expr, ast.Await):
        expr = expr.value
    if not (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr in _KEYWORD_WRITES
    ):
        return None
    for keyword in expr.keywords:
        if keyword.arg in _STATUS_FIELDS and _done_word(keyword.value) is not None:
            return f'{expr.func.attr}({keyword.arg}="{_done_word(keyword.value)}")'
        if keyword.arg in _DONE_FLAGS and constant(keyword.value) is True:
            return f"{expr.func.attr}({keyword.arg}=True)"
    return None


def _follow_into_callers(call: ast.Call, helper: ast.AST, verb: str, ctx: PythonContext) -> None:
    """The helper returns the unchecked response: judge each call of it in the module's
    other functions as if the request were made there."""
    if not isinstance(helper, ast.FunctionDef | ast.AsyncFunctionDef):
        return
    parents = ctx.parents()
    for function in ctx.nodes():  # the module's nodes, listed once and shared
        if function is helper or not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in _own_nodes(function):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == helper.name
            ):
                use = _use_of(node, function, parents)
                if isinstance(use, _Uses):
                    _report(use, node, verb, function, ctx)


def _follow_parsed_into_callers(helper: ast.AST, verb: str, ctx: PythonContext) -> None:
    """The transport helper returns the parsed answer: judge each call of it in the module's
    other functions as a read of that answer -- trusted unless the caller tests it."""
    if not isinstance(helper, ast.FunctionDef | ast.AsyncFunctionDef):
        return
    for function in ctx.nodes():
        if function is helper or not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in _own_nodes(function):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == helper.name
            ):
                _report(_Uses(node, [node]), node, verb, function, ctx)
