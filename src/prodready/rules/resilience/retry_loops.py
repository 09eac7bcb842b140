"""Resilience: hand-written retry loops without backoff or an attempt cap (RES002, RES003)."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from prodready.plugin import Category, Confidence, ModuleMemo, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    argument,
    caught_names,
    dependency_call,
    dotted,
    has_keyword,
    keyword_value,
    log_call,
    walk_body,
)
from prodready.rules.resilience._attempt_caps import cap_test, reraises_all_but
from prodready.rules.resilience._not_transient import NOT_TRANSIENT as _NOT_TRANSIENT
from prodready.rules.resilience._shared import PRODUCTION_ROLES
from prodready.rules.resilience._status_retries import status_retry_forever

# -- retry loops (RES002, RES003) ------------------------------------------------------------

_SLEEPS = frozenset(
    {
        "time.sleep",
        "asyncio.sleep",
        "gevent.sleep",
        "eventlet.sleep",
        "eventlet.greenthread.sleep",
        "trio.sleep",
        "anyio.sleep",
    }
)
_EXITS = frozenset({"sys.exit", "os._exit", "builtins.exit", "builtins.quit"})
_INTERACTIVE = frozenset({"builtins.input", "getpass.getpass"})
_BACKOFF_FIX = (
    "Sleep between attempts with capped exponential backoff and jitter, e.g. "
    "time.sleep(random.uniform(0, min(30, 0.5 * 2 ** attempt))), or use tenacity with "
    "wait=wait_random_exponential(max=30)."
)
_CAP_FIX = (
    "Bound the loop (for attempt in range(MAX_ATTEMPTS)) or re-raise once a deadline or attempt "
    "limit is reached, e.g. tenacity with stop=stop_after_attempt(5) | stop_after_delay(60)."
)


@dataclass(slots=True, frozen=True)
class _RetryLoop:
    """A loop that repeats a ``try`` until it succeeds."""

    attempt: ast.Try
    handlers: tuple[ast.ExceptHandler, ...]  # the handlers that let the loop go round again
    unbounded: bool  # the loop's own condition never ends it (``while True``/``while not ok``)


# id(loop) -> its retry shape (None: not a retry loop), shared by the rules that ask
_RETRY_LOOPS: ModuleMemo[dict[int, _RetryLoop | None]] = ModuleMemo("RES:retry-loops", lambda _: {})


def _retry_loop(node: ast.For | ast.While, ctx: PythonContext) -> _RetryLoop | None:
    """The retry shape of a loop, computed once per loop for the rules that share it."""
    cache = ctx.memo(_RETRY_LOOPS)
    key = id(node)
    if key not in cache:
        cache[key] = _find_retry_loop(node, ctx)
    return cache[key]


def _find_retry_loop(node: ast.For | ast.While, ctx: PythonContext) -> _RetryLoop | None:
    flag: str | None = None
    counter: str | None = None
    if isinstance(node, ast.For):
        counter = _attempt_counter(node, ctx)
        if counter is None:
            return None
        unbounded = False
    else:
        test = node.test
        if isinstance(test, ast.Constant):
            if not test.value:
                return None
            unbounded = True
        elif isinstance(test, ast.Name):
            flag, unbounded = test.id, True
        elif (
            isinstance(test, ast.UnaryOp)
            and isinstance(test.op, ast.Not)
            and isinstance(test.operand, ast.Name)
        ):
            flag, unbounded = test.operand.id, True
        else:
            # A counter, a deadline or a stop event ends the loop.
            unbounded = False
    for statement in _loop_statements(node.body):
        if isinstance(statement, ast.Try):
            handlers = _retrying_handlers(statement, node.body, flag, counter, ctx)
            if handlers:
                if flag is not None and not _assigns(node.body, flag):
                    # ``while running:`` whose flag the loop never sets is a stop switch
                    # flipped from outside (a signal handler, a shutdown hook).
                    unbounded = False
                return _RetryLoop(statement, handlers, unbounded)
    return None


def _assigns(body: list[ast.stmt], name: str) -> bool:
    return any(
        isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store)
        for node in walk_body(body)
    )


def _attempt_counter(node: ast.For, ctx: PythonContext) -> str | None:
    """The target of ``for attempt in range(n)`` when it counts attempts of a retry."""
    iterator = node.iter
    if not (
        isinstance(iterator, ast.Call)
        and isinstance(iterator.func, ast.Name)
        and isinstance(node.target, ast.Name)
        and iterator.args
        and not iterator.keywords
    ):
        return None
    if ctx.qualname(iterator.func) != "builtins.range":
        return None
    bounds: list[int] = []
    for arg in iterator.args:
        if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and arg.func.id == "len":
            return None  # ``range(len(items))`` walks a sequence, it does not retry
        value = ctx.value_of(arg.id) if isinstance(arg, ast.Name) else arg
        if isinstance(value, ast.Constant) and isinstance(value.value, int):
            bounds.append(value.value)
    if len(bounds) == len(iterator.args) and len(range(*bounds)) <= 2:
        return None  # one immediate retry (after a reconnect, a token refresh) is no storm
    return node.target.id


def _loop_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    statements: list[ast.stmt] = []
    for statement in body:
        statements.append(statement)
        if isinstance(statement, ast.With | ast.AsyncWith):
            statements.extend(statement.body)
    return statements


def _retrying_handlers(
    attempt: ast.Try,
    loop_body: list[ast.stmt],
    flag: str | None,
    counter: str | None,
    ctx: PythonContext,
) -> tuple[ast.ExceptHandler, ...]:
    """Handlers of a ``try`` that succeed-and-leave, which go round the loop again on failure."""
    if not _success_exit(attempt.body + attempt.orelse, flag):
        return ()
    handlers = tuple(
        handler
        for handler in attempt.handlers
        if not _always_exits(handler.body, ctx) and not _only_not_transient(handler, ctx)
    )
    if not handlers:
        return ()
    read: set[str] = set()
    written: set[str] = set()
    for node in walk_body(attempt.body):
        if isinstance(node, ast.Call):
            if ctx.qualname(node.func) in _INTERACTIVE:
                return ()  # re-prompting a user is not hammering a dependency
        elif isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else written).add(node.id)
        elif (
            counter is not None
            and isinstance(node, ast.Subscript)
            and any(isinstance(n, ast.Name) and n.id == counter for n in ast.walk(node.slice))
        ):
            return ()  # ``hosts[attempt]``: fail over to the next candidate, not a retry
    if dependency_call(loop_body, ctx) is None:
        return ()  # retrying local work (a file name, a parse) cannot overload anyone
    inputs = read - written
    for handler in handlers:
        for node in walk_body(handler.body):
            if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id in inputs and target.id != flag
                for target in node.targets
            ):
                return ()  # the handler changes the input (a new name, a new key): not a retry
            if isinstance(node, ast.Call) and not _bookkeeping(node, ctx):
                # The handler acts (reconnects, invalidates, advances a cursor) before going
                # round again: recovery logic, not a blind retry.
                return ()
    return handlers


_BOOKKEEPING_PREFIXES = ("builtins.", "time.", "random.", "math.", "traceback.", "sentry_sdk.")
_BOOKKEEPING_METHODS = frozenset(
    {"append", "add", "format", "inc", "increment", "observe", "labels", "wait", "sleep"}
    | {"get", "lower", "upper", "startswith", "endswith", "split", "strip", "items", "json"}
)


def _bookkeeping(call: ast.Call, ctx: PythonContext) -> bool:
    """Calls a blind retry handler makes: logging, sleeping, counting, formatting."""
    if log_call(call, ctx) is not None:
        return True
    name = ctx.qualname(call.func) or ""
    if name.startswith(_BOOKKEEPING_PREFIXES) or name in _SLEEPS or name in _EXITS:
        return True
    last = name.rsplit(".", 1)[-1].lower()
    return last in _BOOKKEEPING_METHODS or any(
        word in last for word in ("sleep", "backoff", "jitter", "delay")
    )


def _success_exit(statements: list[ast.stmt], flag: str | None) -> bool:
    """A ``return``, a ``break`` of this loop or ``flag = ...`` in the attempt."""
    stack: list[tuple[ast.AST, bool]] = [(statement, False) for statement in statements]
    while stack:
        node, nested_loop = stack.pop()
        if isinstance(node, ast.Return):
            return True
        if isinstance(node, ast.Break) and not nested_loop:
            return True
        if (
            flag is not None
            and isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == flag for t in node.targets)
        ):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        inner = nested_loop or isinstance(node, ast.For | ast.AsyncFor | ast.While)
        stack.extend((child, inner) for child in ast.iter_child_nodes(node))
    return False


def _always_exits(body: list[ast.stmt], ctx: PythonContext) -> bool:
    """The block always leaves the loop (``raise``, ``return``, ``break``, ``sys.exit()``)."""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, ast.Raise | ast.Return | ast.Break):
        return True
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        return ctx.qualname(last.value.func) in _EXITS
    if isinstance(last, ast.If):
        return _always_exits(last.body, ctx) and _always_exits(last.orelse, ctx)
    return False


def _only_not_transient(handler: ast.ExceptHandler, ctx: PythonContext) -> bool:
    names = reraises_all_but(handler, ctx) or caught_names(handler, ctx)
    return bool(names) and all(name.rsplit(".", 1)[-1] in _NOT_TRANSIENT for name in names)


def _can_leave(
    statements: list[ast.stmt], ctx: PythonContext, flag: str | None, skip: ast.AST | None = None
) -> bool:
    """Any way out of the loop: ``raise``, ``return``, ``break``, an exit call, the flag set."""
    stack: list[tuple[ast.AST, bool]] = [(statement, False) for statement in statements]
    while stack:
        node, nested_loop = stack.pop()
        if node is skip:
            continue
        if isinstance(node, ast.Raise | ast.Return):
            return True
        if isinstance(node, ast.Break) and not nested_loop:
            return True
        if isinstance(node, ast.Call) and ctx.qualname(node.func) in _EXITS:
            return True
        if (
            flag is not None
            and isinstance(node, ast.Assign | ast.AugAssign)
            and any(
                isinstance(t, ast.Name) and t.id == flag
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            )
        ):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        inner = nested_loop or isinstance(node, ast.For | ast.AsyncFor | ast.While)
        stack.extend((child, inner) for child in ast.iter_child_nodes(node))
    return False


_REPORTING_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "log"})


def _reports_failure(handler: ast.ExceptHandler) -> bool:
    """The handler prints or logs (``print(error)``, ``logger.warning(...)``)."""
    for node in ast.walk(handler):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "print":
            return True
        if isinstance(func, ast.Attribute) and func.attr in _REPORTING_METHODS:
            return True
    return False


def _flag_ends_loop(loop: ast.While, flag: str, attempt: ast.AST) -> bool:
    """The loop's own body, after a failed attempt, sets the flag its test reads to the value
    that ends it (``while not tried:`` ... ``tried = True``): it runs once more at most."""
    leaving = isinstance(loop.test, ast.UnaryOp)  # ``while not flag``: True ends it
    for statement in loop.body:
        if statement is attempt:
            continue
        if (
            isinstance(statement, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == flag for t in statement.targets)
            and isinstance(statement.value, ast.Constant)
            and bool(statement.value.value) is leaving
        ):
            return True
    return False


def _counted_single_retry(loop: _RetryLoop, ctx: PythonContext) -> bool:
    """Every retrying handler counts failures (``tries_left -= 1``, ``failures += 1``) and
    raises at a cap that allows two attempts at most: one immediate retry, like ``for _ in
    range(2)``, is no storm."""
    return all(_attempts_allowed(handler, ctx) in {1, 2} for handler in loop.handlers)


def _attempts_allowed(handler: ast.ExceptHandler, ctx: PythonContext) -> int | None:
    step: tuple[str, int] | None = None
    for statement in handler.body:
        if (
            isinstance(statement, ast.AugAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(statement.op, ast.Add | ast.Sub)
            and isinstance(statement.value, ast.Constant)
            and statement.value.value == 1
        ):
            sign = 1 if isinstance(statement.op, ast.Add) else -1
            step = (statement.target.id, sign)
        elif step is not None and isinstance(statement, ast.If):
            if not (_always_exits(statement.body, ctx) and not statement.orelse):
                continue
            cap = cap_test(statement.test, step[0])
            start = ctx.value_of(step[0])
            if cap is None or not (isinstance(start, ast.Constant) and type(start.value) is int):
                return None
            (compare, limit), count = cap, start.value
            for attempt in range(1, 4):
                count += step[1]
                if compare(count, limit):
                    return attempt
            return None
    return None


def _backoff(node: ast.For | ast.While, ctx: PythonContext) -> str:
    """How the loop waits between attempts: ``none``, ``constant`` or ``growing``."""
    assigned: set[str] = set()
    if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
        assigned.add(node.target.id)
    sleeps: list[ast.expr] = []
    for child in walk_body(node.body):
        if isinstance(child, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = child.targets if isinstance(child, ast.Assign) else [child.target]
            for target in targets:
                for part in ast.walk(target):
                    text = dotted(part)
                    if text is not None:
                        assigned.add(text)
        elif isinstance(child, ast.Call):
            name = ctx.qualname(child.func) or ""
            last = name.rsplit(".", 1)[-1].lower()
            if name in _SLEEPS or last in {"sleep", "_sleep"}:
                delay = argument(child, 0, "delay") or keyword_value(child, "seconds")
                if delay is not None:
                    sleeps.append(delay)
            elif "backoff" in last or "sleep" in last or "jitter" in last:
                return "growing"  # a helper that waits; trust it
            elif last == "wait" and (child.args or has_keyword(child, "timeout")):
                # ``stop_event.wait(delay)``: an interruptible sleep
                delay = argument(child, 0, "timeout")
                if delay is not None:
                    sleeps.append(delay)
    kind = "none"
    for delay in sleeps:
        if isinstance(delay, ast.Constant) and not delay.value:
            continue  # ``sleep(0)`` only yields
        if _grows(delay, assigned, ctx):
            return "growing"
        kind = "constant"
    return kind


def _grows(delay: ast.expr, assigned: set[str], ctx: PythonContext) -> bool:
    """The delay depends on the attempt, on a value updated in the loop, or on randomness."""
    for part in ast.walk(delay):
        if isinstance(part, ast.BinOp) and isinstance(part.op, ast.Pow | ast.LShift):
            return True
        if isinstance(part, ast.Name | ast.Attribute) and dotted(part) in assigned:
            return True
        if isinstance(part, ast.Call):
            name = (ctx.qualname(part.func) or "").lower()
            if name.startswith(("random.", "secrets.", "numpy.random.")) or any(
                word in name for word in ("jitter", "backoff", "random", "uniform", "expo")
            ):
                return True
    return False


@python_rule(
    code="RES002",
    name="retry-without-backoff",
    category=Category.RESILIENCE,
    roles=PRODUCTION_ROLES,
    severity=Severity.MEDIUM,
    summary="Retry loop that retries immediately or at a fixed interval (no backoff, no jitter)",
    nodes=(ast.For, ast.While),
    fix=_BACKOFF_FIX,
)
def retry_without_backoff(node: ast.For | ast.While, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags hand-written retry loops -- `for attempt in range(n)` or `while` loops around a `try`
    that `break`s or `return`s on success and goes round again on failure -- that do not wait
    between attempts, or wait a fixed time that neither grows with the attempt nor has jitter.
    One immediate retry is left alone: `for _ in range(2)`, or a failure counter that raises
    on the second failure (`tries_left = 2` ... `tries_left -= 1; if tries_left == 0: raise`).
    So are handlers that retry only what waiting cannot fix -- a lost insert race
    (`IntegrityError`), an optimistic-lock conflict (redis `WatchError`, SQLAlchemy
    `StaleDataError`), a missing key -- caught by name or kept by `if not isinstance(error,
    IntegrityError): raise`.

    ## Why it breaks production
    When a dependency fails because it is overloaded or restarting, every caller retries at
    once: immediate retries multiply the load by the number of attempts exactly when the
    dependency can least take it, and fixed delays keep all clients retrying in lockstep. This
    is how a short blip becomes a retry storm that keeps the dependency down.

    ## Example
    ```python
    for attempt in range(5):
        try:
            return requests.post(f"{LEDGER_URL}/entries", json=entry, timeout=5)
        except requests.RequestException:
            logger.warning("ledger call failed, retrying")
    ```

    ## Use instead
    ```python
    for attempt in range(5):
        try:
            return requests.post(f"{LEDGER_URL}/entries", json=entry, timeout=5)
        except requests.RequestException:
            if attempt == 4:
                raise
            time.sleep(random.uniform(0, min(30, 0.5 * 2**attempt)))  # backoff + full jitter
    ```
    Or let a library do it:
    `@retry(stop=stop_after_attempt(5), wait=wait_random_exponential(max=30))`.
    """
    if ctx.facts.is_test:
        return
    loop = _retry_loop(node, ctx)
    if loop is None or _counted_single_retry(loop, ctx):
        return
    kind = _backoff(node, ctx)
    if kind == "growing":
        return
    if kind == "none":
        ctx.report(
            node,
            "Retry loop retries immediately after a failure: when the dependency is overloaded "
            "or down, every caller hammers it again at once. Sleep between attempts with "
            "exponential backoff and jitter (or use tenacity/backoff).",
        )
        return
    ctx.report(
        node,
        "Retry loop waits a fixed delay between attempts: clients that failed together retry "
        "together, in lockstep, against a struggling dependency. Grow the delay with the "
        "attempt (exponential backoff) and add random jitter.",
        severity=Severity.LOW,
    )


@python_rule(
    code="RES003",
    name="retry-without-attempt-cap",
    category=Category.RESILIENCE,
    roles=PRODUCTION_ROLES,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    summary="Retry loop with no attempt limit or deadline: a permanent failure retries forever",
    nodes=(ast.While,),
    fix=_CAP_FIX,
)
def retry_without_attempt_cap(node: ast.While, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `while True:` (or `while not done:`) retry loops around a `try` that leaves the loop
    on success, whose failure path never re-raises, returns or breaks, and that no attempt
    counter or deadline bounds (a flag the loop's body sets to end it after a failed attempt,
    `while not tried:` ... `tried = True`, is such a bound); and `while True:` loops that
    call another service and leave only when its answer's status is good (`if
    resp.status_code < 500: return resp.json()`).
    Evidence tier: a loop at module level (a program's start-up waiting for a dependency, as
    an entrypoint's wait-for-database script does: nothing else waits on it for an answer)
    whose every failure path prints or logs the error is reported low, confidence low, and
    the message says so.

    ## Why it breaks production
    Not every failure is transient: a revoked credential, a removed endpoint or a malformed
    request fails the same way forever. An uncapped retry loop then never returns -- the
    request, job or worker hangs silently, holding its connection and thread, while the retries
    keep loading the dependency. Nothing surfaces the error to an alert or to the caller.

    ## Example
    ```python
    while True:
        try:
            resp = requests.post(WEBHOOK_URL, json=event, timeout=5)
            resp.raise_for_status()
            break
        except requests.RequestException:
            logger.warning("webhook delivery failed, retrying")
            time.sleep(5)
    ```

    ## Use instead
    ```python
    for attempt in range(MAX_ATTEMPTS):
        try:
            resp = requests.post(WEBHOOK_URL, json=event, timeout=5)
            resp.raise_for_status()
            break
        except requests.RequestException:
            if attempt == MAX_ATTEMPTS - 1:
                raise  # let the caller (or the dead-letter queue) see the failure
            time.sleep(random.uniform(0, min(60, 2**attempt)))
    ```
    """
    if ctx.facts.is_test:
        return
    loop = _retry_loop(node, ctx)
    if loop is None and status_retry_forever(node, ctx):
        ctx.report(
            node,
            "Retry loop waits for a good response status with no attempt limit or deadline: a "
            "dependency that keeps failing (or a request it will always refuse) keeps the "
            "caller here forever. Cap the attempts or the total time and raise when spent.",
        )
        return
    if loop is None or not loop.unbounded:
        return
    flag = None
    if isinstance(node.test, ast.Name):
        flag = node.test.id
    elif isinstance(node.test, ast.UnaryOp) and isinstance(node.test.operand, ast.Name):
        flag = node.test.operand.id
    attempt = loop.attempt
    # The loop is bounded when a failure path or the code around the attempt can leave it.
    if _can_leave([*node.body, *attempt.finalbody], ctx, None, skip=attempt):
        return
    if any(_can_leave(handler.body, ctx, flag) for handler in loop.handlers):
        return
    if flag is not None and _flag_ends_loop(node, flag, attempt):
        return
    if ctx.function is None and all(_reports_failure(h) for h in loop.handlers):
        # Evidence tier: the program's own start-up waiting for a dependency, loudly.
        ctx.report(
            node,
            "Retry loop has no attempt limit or deadline, but it runs at module level -- a "
            "program's start-up waiting for a dependency, which nothing else waits on for an "
            "answer -- and reports every failure: it seems meant to wait until the dependency "
            "is up. Cap the total time anyway, so that bad credentials fail the start instead "
            "of hanging it.",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    ctx.report(
        node,
        "Retry loop has no attempt limit or deadline: a failure that is not transient (bad "
        "credentials, a 4xx, a removed endpoint) retries forever and the caller hangs. Cap the "
        "attempts or the total time and re-raise when the budget is spent.",
    )
