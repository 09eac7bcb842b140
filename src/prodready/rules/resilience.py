"""Resilience: what happens to the service when a dependency is slow, down or flaky."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from prodready.engine.analysis import (
    argument,
    calls_in,
    caught_names,
    constant,
    constant_str,
    dependency_call,
    dotted,
    has_keyword,
    has_star_kwargs,
    in_service_code,
    in_task,
    is_false,
    is_framework_source,
    is_local_name,
    is_none,
    is_script,
    is_true,
    keyword_value,
    log_call,
    module_value,
    string_fragments,
    task_decorator,
    walk_body,
)
from prodready.engine.python import ClassInfo, ModuleEnd, PythonContext, Scope
from prodready.engine.registry import python_rule
from prodready.model import Category, Confidence, Severity

_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")
_REQUESTS_CALLS = (
    *(f"requests.{verb}" for verb in _VERBS),
    *(f"requests.Session.{verb}" for verb in _VERBS),
    *(f"requests.sessions.Session.{verb}" for verb in _VERBS),
    *(f"requests.session.{verb}" for verb in _VERBS),
)
_HTTPX_CALLS = (
    *(f"httpx.{verb}" for verb in (*_VERBS, "stream")),
    *(f"httpx.Client.{verb}" for verb in (*_VERBS, "stream")),
    *(f"httpx.AsyncClient.{verb}" for verb in (*_VERBS, "stream")),
    "httpx.Client",
    "httpx.AsyncClient",
)
# Callee -> position of a positional ``timeout`` argument (None: keyword only).
_NO_DEFAULT_TIMEOUT = {
    "urllib.request.urlopen": 2,
    "http.client.HTTPConnection": 2,
    "http.client.HTTPSConnection": 2,
    "urllib3.PoolManager": None,
    "urllib3.request": None,
    "urllib3.HTTPConnectionPool": None,
    "urllib3.HTTPSConnectionPool": None,
    "urllib3.connection_from_url": None,
}
_AIOHTTP_CALLS = ("aiohttp.ClientSession", "aiohttp.request", "aiohttp.ClientTimeout")
_TIMEOUT_FIX = "Pass an explicit timeout, e.g. timeout=(3.05, 10) for (connect, read) seconds."


def _mounts_adapter(ctx: PythonContext) -> bool:
    """A module that mounts an HTTPAdapter usually gives its sessions a default timeout there."""
    cached = ctx.module_state.get("RES001:adapter")
    if cached is None:
        cached = "HTTPAdapter" in ctx.source and ".mount(" in ctx.source
        ctx.module_state["RES001:adapter"] = cached
    return bool(cached)


@python_rule(
    code="RES001",
    name="http-call-without-timeout",
    category=Category.RESILIENCE,
    severity=Severity.HIGH,
    summary="Outbound HTTP call that can wait forever (no timeout, or timeout=None)",
    calls=(*_REQUESTS_CALLS, *_HTTPX_CALLS, *_NO_DEFAULT_TIMEOUT, *_AIOHTTP_CALLS),
    fix=_TIMEOUT_FIX,
)
def http_call_without_timeout(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags outbound HTTP requests that have no timeout: `requests` calls without `timeout=`,
    `urllib.request.urlopen`, `http.client` connections and `urllib3` pools without one,
    `aiohttp` sessions left on their 5-minute default, and any client given `timeout=None`.

    ## Why it breaks production
    `requests`, `urllib` and `urllib3` wait *forever* by default. When the upstream hangs
    (overloaded, half-open TCP connection, a firewall dropping packets) every worker thread that
    calls it blocks, the pool fills, health checks start failing and the outage spreads to every
    endpoint of the service -- not just the one that needed the slow dependency.

    ## Example
    ```python
    resp = requests.get(f"{PAYMENTS_URL}/charges/{charge_id}")
    ```

    ## Use instead
    ```python
    resp = requests.get(f"{PAYMENTS_URL}/charges/{charge_id}", timeout=(3.05, 10))
    ```
    Choose the read timeout from the upstream's latency SLO, and keep it below the timeout of
    whoever calls you.
    """
    if ctx.facts.is_test or has_star_kwargs(node):
        return
    name = ctx.call_name or ""
    timeout = keyword_value(node, "timeout")
    if name.startswith("httpx."):
        # httpx defaults to a 5 s timeout; only an explicit None disables it.
        if timeout is not None and is_none(timeout):
            ctx.report(node, f"{name}() with timeout=None can wait forever on a hung upstream")
        return
    if name.startswith("aiohttp."):
        _check_aiohttp(node, name, ctx)
        return
    if name in _NO_DEFAULT_TIMEOUT:
        position = _NO_DEFAULT_TIMEOUT[name]
        value = argument(node, position, "timeout")
        if value is None or is_none(value):
            ctx.report(
                node,
                f"{name}() has no timeout and waits forever by default: "
                "a hung upstream blocks this worker indefinitely",
            )
        return
    # requests
    if timeout is not None:
        if is_none(timeout):
            ctx.report(node, f"{name}() with timeout=None waits forever on a hung upstream")
        return
    if (".Session." in name or ".session." in name) and _mounts_adapter(ctx):
        return
    ctx.report(
        node,
        f"{name}() has no timeout: requests waits forever by default, so a hung upstream "
        "blocks this worker indefinitely",
    )


def _check_aiohttp(node: ast.Call, name: str, ctx: PythonContext) -> None:
    if name == "aiohttp.ClientTimeout":
        if not node.args and not any(
            k.arg in {"total", "sock_read", "sock_connect", "connect"} and not is_none(k.value)
            for k in node.keywords
        ):
            ctx.report(node, "aiohttp.ClientTimeout() without total= or sock_read= never times out")
        return
    if not has_keyword(node, "timeout"):
        ctx.report(
            node,
            f"{name}() relies on aiohttp's default 5-minute total timeout: a slow upstream ties "
            "up this task far longer than any caller waits",
            severity=Severity.MEDIUM,
            confidence=Confidence.MEDIUM,
        )


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
# Exceptions that a retry cannot fix and that do not come from an overloaded dependency: loops
# catching only these regenerate their input (a new file name, a new random key), poll a local
# queue or restart an interrupted system call -- retrying at once is right there.
_NOT_TRANSIENT = frozenset(
    {
        "ArithmeticError",
        "AssertionError",
        "AttributeError",
        "BlockingIOError",
        "CancelledError",
        "DoesNotExist",
        "Empty",
        "EOFError",
        "FileExistsError",
        "FileNotFoundError",
        "Full",
        "ImportError",
        "IndexError",
        "IntegrityError",
        "InterruptedError",
        "IsADirectoryError",
        "JSONDecodeError",
        "KeyError",
        "KeyboardInterrupt",
        "LookupError",
        "ModuleNotFoundError",
        "MultipleObjectsReturned",
        "NameError",
        "NotADirectoryError",
        "NotImplementedError",
        "ObjectDoesNotExist",
        "OverflowError",
        "PermissionError",
        "RecursionError",
        "SSLWantReadError",
        "SSLWantWriteError",
        "StopAsyncIteration",
        "StopIteration",
        "SystemExit",
        "TypeError",
        "UnicodeDecodeError",
        "UnicodeEncodeError",
        "UnicodeError",
        "ValidationError",
        "ValueError",
        "ZeroDivisionError",
    }
)
_EXITS = frozenset({"sys.exit", "os._exit", "builtins.exit", "builtins.quit"})
_INTERACTIVE = frozenset({"builtins.input", "getpass.getpass"})
_RETRY_CACHE = "RES:retry-loops"
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


def _retry_loop(node: ast.For | ast.While, ctx: PythonContext) -> _RetryLoop | None:
    """The retry shape of a loop, computed once per loop for the rules that share it."""
    cache: dict[int, _RetryLoop | None] = ctx.module_state.setdefault(_RETRY_CACHE, {})
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
    names = caught_names(handler, ctx)
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
    if loop is None:
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
    counter or deadline bounds.

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
    ctx.report(
        node,
        "Retry loop has no attempt limit or deadline: a failure that is not transient (bad "
        "credentials, a 4xx, a removed endpoint) retries forever and the caller hangs. Cap the "
        "attempts or the total time and re-raise when the budget is spent.",
    )


# -- retry libraries (RES004) ----------------------------------------------------------------

_TENACITY = (
    "tenacity.retry",
    "tenacity.Retrying",
    "tenacity.AsyncRetrying",
    "tenacity.asyncio.AsyncRetrying",
)
_BACKOFF_DECORATORS = ("backoff.on_exception", "backoff.on_predicate")


@python_rule(
    code="RES004",
    name="retry-decorator-unbounded",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    summary="tenacity/backoff/Celery retry that never stops, or retries without a growing wait",
    nodes=(ast.FunctionDef, ast.AsyncFunctionDef),
    calls=(*_TENACITY, *_BACKOFF_DECORATORS, "*.retry"),
    fix="tenacity: pass stop=stop_after_attempt(5) and wait=wait_random_exponential(max=30); "
    "backoff: pass max_tries= or max_time=; Celery: keep max_retries finite and use "
    "retry_backoff=True (with retry_jitter) or an exponential countdown with jitter.",
)
def retry_decorator_unbounded(
    node: ast.Call | ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> None:
    """
    ## What it does
    Flags tenacity `@retry`, `@retry(...)`, `Retrying(...)` and `AsyncRetrying(...)` without
    `stop=` (tenacity's default is to never stop) or without `wait=` (tenacity's default is to
    retry immediately), and `backoff.on_exception`/`on_predicate` without `max_tries=` or
    `max_time=` (backoff's default is to retry forever).

    Celery tasks too: `max_retries=None` on a task that retries (`self.retry(...)` in a bound
    task, or `autoretry_for=`), which retries forever; `self.retry(countdown=<constant>)`,
    which retries at a fixed interval without growth or jitter (`countdown=2 **
    self.request.retries`, `random.uniform(...)` or any computed delay is fine); and
    `autoretry_for=` without `retry_backoff`, which retries at the fixed `default_retry_delay`
    (low severity). Options passed as `**policy` are not judged.

    ## Why it breaks production
    Retry libraries are opt-in for limits. A bare `@retry` turns any permanent failure -- a bad
    credential, a 404, a schema change -- into an infinite loop that hangs the caller and keeps
    load on the dependency; without a wait it also retries in a tight loop, a retry storm
    against a dependency that is already struggling. A Celery task with `max_retries=None`
    re-queues a message that can never succeed forever, and fixed-interval retries bring every
    task that failed during an outage back at the same moment -- again and again, in lockstep --
    just as the dependency tries to recover.

    ## Example
    ```python
    @retry
    def fetch_exchange_rates():
        return requests.get(RATES_URL, timeout=5).json()

    @app.task(bind=True, max_retries=None)
    def send_receipt(self, order_id):
        try:
            mailer.send(order_id)
        except MailerError as exc:
            raise self.retry(exc=exc, countdown=5)
    ```

    ## Use instead
    ```python
    @retry(
        stop=stop_after_attempt(5) | stop_after_delay(30),
        wait=wait_random_exponential(multiplier=0.5, max=10),
        reraise=True,
    )
    def fetch_exchange_rates():
        return requests.get(RATES_URL, timeout=5).json()

    @app.task(
        autoretry_for=(MailerError,), max_retries=6, retry_backoff=2, retry_backoff_max=300
    )  # retry_jitter is on by default
    def send_receipt(order_id):
        mailer.send(order_id)
    ```
    """
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.Call):
        name = ctx.call_name or ""
        if name in _BACKOFF_DECORATORS:
            if not has_star_kwargs(node):
                _check_backoff(node, name, ctx)
        elif name in _TENACITY:
            if not has_star_kwargs(node):
                _check_tenacity(node, name, ctx)
        else:
            _check_celery_retry_call(node, ctx)
        return
    _check_celery_task(node, ctx)
    for decorator in node.decorator_list:
        # ``@retry`` used bare; the call form is dispatched as a call.
        last = decorator.attr if isinstance(decorator, ast.Attribute) else None
        if isinstance(decorator, ast.Name):
            last = decorator.id
        if last is None or "retry" not in last:
            continue
        if ctx.qualname(decorator) == "tenacity.retry":
            ctx.report(
                decorator,
                f"@{last} without arguments retries forever and immediately (tenacity's "
                "defaults are stop_never and no wait): a permanent failure hangs the caller "
                "in a tight loop. Pass stop= and wait=.",
            )


def _keyword_named(node: ast.Call, name: str, *unbounded: str) -> ast.expr | None:
    """The keyword's value unless it explicitly means "no limit" (``None``, ``stop_never``)."""
    value = keyword_value(node, name)
    if value is None or is_none(value):
        return None
    text = dotted(value.func if isinstance(value, ast.Call) else value) or ""
    if text.rsplit(".", 1)[-1] in unbounded:
        return None
    return value


def _check_tenacity(node: ast.Call, name: str, ctx: PythonContext) -> None:
    short = name.rsplit(".", 1)[-1]
    if _keyword_named(node, "stop", "stop_never") is None:
        ctx.report(
            node,
            f"tenacity {short}() has no stop=: tenacity retries forever by default, so a "
            "permanent failure hangs the caller. Pass stop=stop_after_attempt(n) or "
            "stop_after_delay(seconds).",
        )
        return
    if _keyword_named(node, "wait", "wait_none") is None:
        ctx.report(
            node,
            f"tenacity {short}() has no wait=: attempts follow each other immediately and "
            "hammer a failing dependency. Pass wait=wait_random_exponential(max=...).",
            severity=Severity.LOW,
        )


def _check_backoff(node: ast.Call, name: str, ctx: PythonContext) -> None:
    for limit in ("max_tries", "max_time"):
        value = keyword_value(node, limit)
        if value is not None and not is_none(value):
            return
    ctx.report(
        node,
        f"{name}() has neither max_tries= nor max_time=: backoff retries forever by default, "
        "so a permanent failure hangs the caller. Pass max_tries= and/or max_time=.",
    )


# Celery (RES004): a bound task's ``self.retry(...)`` and the task's retry options.

_CELERY_RETRY_FIX = (
    "Grow the delay and add jitter: countdown=min(300, 2 ** self.request.retries * 5) + "
    "random.uniform(0, 5), or declare autoretry_for=... with retry_backoff=True (retry_jitter "
    "is on by default)."
)


def _celery_task_class(owner: ClassInfo | None, ctx: PythonContext) -> bool:
    """A ``celery.Task`` subclass (``class BaseTask(Task)`` in a module that uses Celery)."""
    if owner is None:
        return False
    return any(
        (base.startswith("celery.") and base.endswith(".Task"))
        or (base.rsplit(".", 1)[-1].endswith("Task") and "celery" in ctx.facts.frameworks)
        for base in owner.bases
    )


def _bound_self(scope: Scope, ctx: PythonContext) -> str | None:
    """The name of the task instance -- the receiver of ``.retry(...)`` -- in a bound task
    (``@app.task(bind=True)``) or a method of a ``Task`` subclass; ``None`` elsewhere."""
    params = scope.node.args.posonlyargs + scope.node.args.args
    if not params:
        return None
    decorator = task_decorator(scope.node, ctx)
    if decorator is not None:
        bound = isinstance(decorator, ast.Call) and is_true(keyword_value(decorator, "bind"))
        return params[0].arg if bound else None
    return params[0].arg if _celery_task_class(scope.class_info, ctx) else None


def _self_retries(body: list[ast.stmt], self_name: str) -> list[ast.Call]:
    return [
        call
        for call in calls_in(body)
        if isinstance(call.func, ast.Attribute)
        and call.func.attr == "retry"
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == self_name
    ]


def _dict_entry(expr: ast.expr | None, key: str) -> ast.expr | None:
    if not isinstance(expr, ast.Dict):
        return None
    for name, value in zip(expr.keys, expr.values, strict=True):
        if constant_str(name) == key:
            return value
    return None


def _check_celery_task(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> None:
    decorator = task_decorator(node, ctx)
    if not isinstance(decorator, ast.Call) or has_star_kwargs(decorator):
        return
    params = node.args.posonlyargs + node.args.args
    bound = bool(params) and is_true(keyword_value(decorator, "bind"))
    retries = _self_retries(node.body, params[0].arg) if bound else []
    autoretry = keyword_value(decorator, "autoretry_for")
    if autoretry is not None and isinstance(autoretry, ast.Tuple | ast.List) and not autoretry.elts:
        autoretry = None
    if autoretry is None and not retries:
        return  # max_retries only matters to a task that retries
    limit = keyword_value(decorator, "max_retries")
    if limit is None:
        limit = _dict_entry(keyword_value(decorator, "retry_kwargs"), "max_retries")
    if limit is not None and is_none(limit):
        ctx.report(
            decorator,
            f"task {node.name}() has max_retries=None and retries"
            + (" on every listed exception" if autoretry is not None else "")
            + ": Celery then re-queues it forever, so a message that can never succeed (a "
            "4xx, bad data, a revoked credential) keeps a worker busy and load on the "
            "dependency indefinitely. Set max_retries to a small number and retry only "
            "transient errors.",
        )
        return
    if autoretry is None:
        return
    backoff = keyword_value(decorator, "retry_backoff")
    if backoff is not None and not is_false(backoff) and constant(backoff) != 0:
        return
    ctx.report(
        decorator,
        f"task {node.name}() retries automatically (autoretry_for=) without retry_backoff: "
        "every retry waits the same default_retry_delay with no jitter, so tasks that failed "
        "together during an outage retry together. Add retry_backoff=True "
        "(and retry_backoff_max=).",
        severity=Severity.LOW,
    )


def _fixed_number(expr: ast.expr | None, ctx: PythonContext, depth: int = 0) -> float | None:
    """The value of a delay that is the same on every attempt: a number, a constant name, or
    arithmetic on those. ``None`` when it is computed at run time (attempt count, randomness)."""
    if expr is None or depth > 4:
        return None
    if isinstance(expr, ast.Constant):
        value = expr.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)
    if isinstance(expr, ast.Name):
        return _fixed_number(ctx.value_of(expr.id), ctx, depth + 1)
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        inner = _fixed_number(expr.operand, ctx, depth + 1)
        return None if inner is None else -inner
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add | ast.Sub | ast.Mult):
        left = _fixed_number(expr.left, ctx, depth + 1)
        right = _fixed_number(expr.right, ctx, depth + 1)
        if left is None or right is None:
            return None
        if isinstance(expr.op, ast.Add):
            return left + right
        return left - right if isinstance(expr.op, ast.Sub) else left * right
    return None


def _check_celery_retry_call(node: ast.Call, ctx: PythonContext) -> None:
    """``self.retry(...)`` inside a bound Celery task (or a ``Task`` subclass's method)."""
    func = node.func
    scope = ctx.function
    if (
        scope is None
        or not isinstance(func, ast.Attribute)
        or not isinstance(func.value, ast.Name)
        or has_star_kwargs(node)
    ):
        return
    while scope.parent is not None and scope.class_info is None and not _is_task_scope(scope, ctx):
        scope = scope.parent  # a helper nested in the task closes over ``self``
    if func.value.id != _bound_self(scope, ctx):
        return
    limit = keyword_value(node, "max_retries")
    if limit is not None and is_none(limit):
        ctx.report(
            node,
            f"{func.value.id}.retry(max_retries=None) retries forever: a message that can never "
            "succeed keeps a worker busy and load on the dependency indefinitely. Pass a "
            "finite max_retries.",
        )
        return
    delay = _fixed_number(keyword_value(node, "countdown"), ctx)
    if delay is None:
        return
    ctx.report(
        node,
        f"{func.value.id}.retry(countdown={delay:g}) retries at a fixed interval with no "
        "backoff or jitter: every task that failed in the same outage retries at the same "
        "moment, again and again, against a dependency trying to recover. " + _CELERY_RETRY_FIX,
        severity=Severity.LOW if delay >= 60 else None,
    )


def _is_task_scope(scope: Scope, ctx: PythonContext) -> bool:
    return task_decorator(scope.node, ctx) is not None


# -- client timeouts (RES005, RES006) --------------------------------------------------------

_REDIS_CLIENTS = (
    "redis.Redis",
    "redis.StrictRedis",
    "redis.client.Redis",
    "redis.client.StrictRedis",
    "redis.RedisCluster",
    "redis.cluster.RedisCluster",
    "redis.ConnectionPool",
    "redis.BlockingConnectionPool",
    "redis.connection.ConnectionPool",
    "redis.asyncio.Redis",
    "redis.asyncio.StrictRedis",
    "redis.asyncio.client.Redis",
    "redis.asyncio.RedisCluster",
    "redis.asyncio.ConnectionPool",
    "redis.asyncio.BlockingConnectionPool",
)
_REDIS_FROM_URL = (
    "redis.from_url",
    "redis.asyncio.from_url",
    *(f"{client}.from_url" for client in _REDIS_CLIENTS),
)


@python_rule(
    code="RES005",
    name="redis-client-without-timeout",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    summary="redis-py client or pool without socket_timeout: a hung Redis blocks callers forever",
    calls=(*_REDIS_CLIENTS, *_REDIS_FROM_URL),
    fix="Pass socket_timeout= and socket_connect_timeout= (seconds), e.g. "
    "redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).",
)
def redis_client_without_timeout(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags redis-py clients and connection pools (`redis.Redis(...)`, `redis.from_url(...)`,
    `redis.ConnectionPool(...)`, their `redis.asyncio` twins, `RedisCluster`) created without
    `socket_timeout`, or with `socket_timeout=None`, and whose URL does not set it either.

    ## Why it breaks production
    redis-py's `socket_timeout` defaults to `None`: every command waits forever for a reply.
    Redis is usually on the hot path (sessions, rate limits, caches), so when it stalls --
    a failover, a long `KEYS`/Lua script, a network partition that drops packets -- every
    request thread blocks on it and the whole service stops answering instead of degrading.

    ## Example
    ```python
    cache = redis.Redis(host=REDIS_HOST, port=6379, db=0)
    ```

    ## Use instead
    ```python
    cache = redis.Redis(
        host=REDIS_HOST, port=6379, db=0, socket_timeout=2, socket_connect_timeout=2
    )
    ```
    """
    if ctx.facts.is_test or has_star_kwargs(node):
        return
    name = ctx.call_name or ""
    if has_keyword(node, "connection_pool"):
        return  # the pool carries the socket options
    from_url = name.endswith(".from_url")
    position = 4 if name.rsplit(".", 1)[-1] in {"Redis", "StrictRedis"} else None
    timeout = argument(node, None if from_url else position, "socket_timeout")
    if timeout is not None:
        if is_none(timeout):
            ctx.report(
                node,
                f"{name}() with socket_timeout=None waits forever for a reply from a stalled "
                "Redis. Set socket_timeout to a few seconds.",
            )
        return
    confidence = None
    if from_url:
        url = argument(node, 0, "url")
        if url is None or "socket_timeout" in "".join(string_fragments(url, ctx)):
            return
        if constant_str(url) is None:
            # The URL comes from configuration and may carry ?socket_timeout=.
            confidence = Confidence.MEDIUM
    partial = has_keyword(node, "socket_connect_timeout")
    ctx.report(
        node,
        f"{name}() has no socket_timeout"
        + (" (socket_connect_timeout only bounds connecting)" if partial else "")
        + ": redis-py waits forever for replies by default, so a stalled Redis blocks every "
        "request that touches it. Pass socket_timeout= (and socket_connect_timeout=).",
        confidence=confidence,
    )


_LIBPQ_CONNECTS = {
    # callee -> position of the DSN argument
    "psycopg2.connect": 0,
    "psycopg2.pool.SimpleConnectionPool": 2,
    "psycopg2.pool.ThreadedConnectionPool": 2,
    "psycopg.connect": 0,
    "psycopg.Connection.connect": 0,
    "psycopg.AsyncConnection.connect": 0,
}
_ASYNCPG = ("asyncpg.connect", "asyncpg.create_pool")
_ENGINES = ("sqlalchemy.create_engine", "sqlalchemy.engine.create_engine")


@python_rule(
    code="RES006",
    name="db-connect-without-timeout",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="PostgreSQL connection opened without connect_timeout: an unreachable host hangs it",
    calls=(*_LIBPQ_CONNECTS, *_ASYNCPG, *_ENGINES),
    fix="Pass connect_timeout=5 (or put connect_timeout=5 in the DSN / connect_args).",
)
def db_connect_without_timeout(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags PostgreSQL connections opened with `psycopg2`/`psycopg` (and `psycopg2` pools) that set
    no `connect_timeout` -- neither as a keyword nor in the DSN (`"... connect_timeout=5"`,
    `?connect_timeout=5`) -- `asyncpg` connections with `timeout=None`, and SQLAlchemy engines
    on a literal `postgresql://` URL without `connect_timeout` in the URL or `connect_args`.
    Unix-socket connections are left alone; a loopback host (`localhost`, `127.0.0.1`) is
    reported with low confidence in code a service runs (it is a sidecar proxy or a laptop-only
    address) and left alone in scripts, migrations and examples.

    ## Why it breaks production
    libpq's `connect_timeout` defaults to "wait indefinitely". When the database host is
    unreachable (failover in progress, security group change, DNS pointing at a dead IP) a
    connect blocks for the kernel's TCP timeout -- minutes -- and forever if the server accepts
    the TCP connection but never answers. Workers pile up on connects, health checks time out
    and the service goes down with the database instead of failing fast and recovering.

    ## Example
    ```python
    conn = psycopg2.connect(host=DB_HOST, dbname="orders", user=DB_USER, password=DB_PASSWORD)
    ```

    ## Use instead
    ```python
    conn = psycopg2.connect(
        host=DB_HOST, dbname="orders", user=DB_USER, password=DB_PASSWORD, connect_timeout=5
    )
    ```
    The `PGCONNECT_TIMEOUT` environment variable also works, but only where it is set.
    """
    if ctx.facts.is_test or has_star_kwargs(node):
        return
    name = ctx.call_name or ""
    timeout = keyword_value(node, "connect_timeout")
    if name in _ASYNCPG:
        # asyncpg defaults to timeout=60; only an explicit None disables it.
        value = keyword_value(node, "timeout")
        if value is not None and is_none(value):
            ctx.report(
                node,
                f"{name}() with timeout=None waits forever for an unreachable database. "
                "Keep asyncpg's default or pass timeout=10.",
                confidence=Confidence.HIGH,
            )
        return
    if name in _ENGINES:
        _check_engine(node, name, ctx)
        return
    if timeout is not None:
        if is_none(timeout):
            ctx.report(node, f"{name}() with connect_timeout=None waits forever to connect.")
        return
    position = _LIBPQ_CONNECTS[name]
    dsn = argument(node, position, "conninfo" if name.startswith("psycopg.") else "dsn")
    if dsn is None and not node.keywords:
        return  # everything comes from PG* environment variables, PGCONNECT_TIMEOUT included
    text = "".join(string_fragments(dsn, ctx))
    if "connect_timeout" in text:
        return
    host = constant_str(keyword_value(node, "host"))
    local = _local_database(host or text, literal=host is not None or constant_str(dsn) is not None)
    if local == "socket" or (local == "loopback" and _local_setup(ctx)):
        return
    # A DSN built elsewhere (settings, environment) may carry connect_timeout.
    opaque = dsn is not None and not text
    psycopg3 = name.startswith("psycopg.")
    ctx.report(
        node,
        f"{name}() sets no connect_timeout: "
        + (
            "psycopg 3 falls back to a long default (about two minutes in recent releases), "
            if psycopg3
            else "libpq waits indefinitely by default, "
        )
        + "so an unreachable database host stalls every worker that connects"
        + (_LOOPBACK_NOTE if local == "loopback" else "")
        + ". Pass connect_timeout=5 (or add it to the DSN).",
        severity=Severity.LOW if psycopg3 else None,
        confidence=Confidence.LOW if opaque or psycopg3 or local else None,
    )


# A loopback address in code a service runs is a sidecar (pgbouncer, Cloud SQL Auth Proxy) or
# an address that only works on a laptop: either way a connect there can hang.
_LOOPBACK_NOTE = (
    " (on localhost too: a sidecar proxy such as pgbouncer or the Cloud SQL Auth Proxy "
    "accepts the connection and then waits for a database it cannot reach)"
)


def _local_setup(ctx: PythonContext) -> bool:
    """Code that runs on a developer's machine or next to its own database -- a script, a
    migration, an example, a framework's own source -- where a loopback database is expected."""
    return ctx.facts.is_example or is_script(ctx) or is_framework_source(ctx)


_LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "/")


def _local_database(text: str, *, literal: bool) -> str | None:
    """Whether a host, DSN or URL names a database on this machine: ``"socket"`` for a unix
    socket (no network in between to hang on), ``"loopback"`` for localhost/127.0.0.1 (what
    examples and dev setups use -- or a sidecar proxy), ``None`` otherwise.
    ``literal``: ``text`` is the whole string, not the fixed pieces of a template."""
    if not text:
        return None
    if text.startswith("/"):
        return "socket"  # the host keyword itself
    if text.startswith(_LOCAL_HOSTS):
        return "loopback"
    if "://" in text:
        netloc = text.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
        # An empty host in a literal URL means the local unix socket; in a template it is
        # only the part filled in at run time.
        if literal and netloc == "":
            return "socket"
        return "loopback" if netloc.startswith(_LOCAL_HOSTS[:3]) else None
    if "host=/" in text:
        return "socket"
    return "loopback" if any(f"host={host}" in text for host in _LOCAL_HOSTS[:3]) else None


def _check_engine(node: ast.Call, name: str, ctx: PythonContext) -> None:
    # The scheme is visible when the URL is a literal or a template (``f"postgresql://{...}"``).
    expr = argument(node, 0, "url")
    url = "".join(string_fragments(expr, ctx))
    if not url.startswith(("postgresql", "postgres:")):
        return
    literal = isinstance(expr, ast.Constant)
    if "asyncpg" in url or "connect_timeout" in url:
        return
    local = _local_database(url, literal=literal)
    if local == "socket" or (local == "loopback" and _local_setup(ctx)):
        return
    connect_args = keyword_value(node, "connect_args")
    if connect_args is not None:
        if not isinstance(connect_args, ast.Dict):
            return  # built elsewhere: may hold connect_timeout
        for key in connect_args.keys:
            if key is None or constant_str(key) in {"connect_timeout", "timeout"}:
                return
    ctx.report(
        node,
        f"{name}() on a PostgreSQL URL without connect_timeout: libpq waits indefinitely to "
        "connect, so an unreachable database stalls every pooled checkout"
        + (_LOOPBACK_NOTE if local == "loopback" else "")
        + ". Add ?connect_timeout=5 to the URL or connect_args={'connect_timeout': 5}.",
        confidence=Confidence.LOW,
    )


# -- AWS clients (RES007) --------------------------------------------------------------------

_BOTO_CLIENTS = (
    "boto3.client",
    "boto3.resource",
    "boto3.Session.client",
    "boto3.Session.resource",
    "boto3.session.Session.client",
    "boto3.session.Session.resource",
    "aioboto3.Session.client",
    "aioboto3.Session.resource",
    "aioboto3.session.Session.client",
    "aioboto3.session.Session.resource",
    "botocore.session.get_session.create_client",
    "botocore.session.Session.create_client",
    "aiobotocore.session.get_session.create_client",
    "aiobotocore.session.AioSession.create_client",
)
_BOTO_CONFIGS = frozenset(
    {"botocore.config.Config", "botocore.client.Config", "aiobotocore.config.AioConfig"}
    | {"boto3.session.Config"}
)
_BOTO_TIMEOUTS = frozenset({"connect_timeout", "read_timeout"})


def _boto_config_timeouts(config: ast.expr, ctx: PythonContext) -> bool | None:
    """Whether a ``config=`` value sets a timeout: True/False when it is a visible ``Config(...)``,
    None when it is built somewhere we cannot see (settings, a merge, a parameter)."""
    if isinstance(config, ast.Name):
        value = module_value(config.id, ctx)
        if value is None or value is config:
            return None
        config = value
    if not isinstance(config, ast.Call) or ctx.qualname(config.func) not in _BOTO_CONFIGS:
        return None
    if has_star_kwargs(config):
        return None
    return any(item.arg in _BOTO_TIMEOUTS for item in config.keywords)


@python_rule(
    code="RES007",
    name="boto3-client-without-timeouts",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    summary="boto3/botocore client on the default 60 s connect + 60 s read timeouts and retries",
    calls=_BOTO_CLIENTS,
    nodes=(ModuleEnd,),
    fix="Pass config=botocore.config.Config(connect_timeout=2, read_timeout=5, "
    'retries={"max_attempts": 3, "mode": "standard"}).',
)
def boto3_client_without_timeouts(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags AWS clients and resources created in service code -- `boto3.client(...)`,
    `boto3.resource(...)`, `Session().client(...)`, `aioboto3`, `botocore`/`aiobotocore`
    `create_client(...)` -- without a `config=botocore.config.Config(...)` that sets
    `connect_timeout` or `read_timeout`. A `Config` held in a variable is followed; one built
    elsewhere (settings, a parameter) is trusted.

    ## Why it breaks production
    botocore waits 60 seconds to connect and 60 seconds for each read, and the legacy retry
    mode retries several times on top of that. When S3, SQS or DynamoDB is slow or a VPC
    endpoint is unreachable, a single call in a request holds the worker for minutes: the
    worker pool fills, health checks time out and the whole service stops answering because
    of one degraded AWS dependency -- long after the caller gave up.

    ## Example
    ```python
    s3 = boto3.client("s3", region_name=AWS_REGION)
    ```

    ## Use instead
    ```python
    from botocore.config import Config

    AWS_CONFIG = Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    s3 = boto3.client("s3", region_name=AWS_REGION, config=AWS_CONFIG)
    ```
    """
    pending: list[tuple[ast.Call, str]] = ctx.rule_state(list, module=True)
    if isinstance(node, ast.Module):  # ModuleEnd: the module's kind is known now
        if pending and in_service_code(ctx):
            for call, message in pending:
                ctx.report(call, message)
        return
    if ctx.facts.is_test or ctx.facts.is_example or not isinstance(node, ast.Call):
        return
    if has_star_kwargs(node):
        return
    name = ctx.call_name or ""
    short = name.rsplit(".", 2)[-2] + "." + name.rsplit(".", 1)[-1] if "." in name else name
    config = argument(node, 9 if name.startswith("boto3.") else None, "config")
    if config is None:
        pending.append(
            (
                node,
                f"{short}() has no config=: botocore waits up to 60 s to connect and 60 s per "
                "read, with retries on top, so a slow AWS endpoint holds this worker for "
                "minutes. Pass config=Config(connect_timeout=..., read_timeout=..., "
                "retries=...)",
            )
        )
        return
    if _boto_config_timeouts(config, ctx) is False:
        pending.append(
            (
                node,
                f"{short}() gets a Config without connect_timeout/read_timeout: botocore's "
                "60 s defaults still apply, so a slow AWS endpoint holds this worker for "
                "minutes. Set connect_timeout= and read_timeout= in the Config",
            )
        )


# -- calls to other services from handlers (RES008) ------------------------------------------

_SEND_VERBS = (*_VERBS, "stream", "send")
_HANDLER_HTTP_CALLS = frozenset(
    {
        *_REQUESTS_CALLS,
        *(f"httpx.{verb}" for verb in (*_VERBS, "stream")),
        *(f"httpx.Client.{verb}" for verb in _SEND_VERBS),
        *(f"httpx.AsyncClient.{verb}" for verb in _SEND_VERBS),
        *(f"aiohttp.ClientSession.{verb}" for verb in _VERBS),
        "aiohttp.request",
        "urllib.request.urlopen",
    }
)
# App-wide error handling registered in the module: uncaught errors get a designed response.
_APP_ERROR_HANDLERS = re.compile(
    r"\.(exception_handler|add_exception_handler|errorhandler|app_errorhandler"
    r"|register_error_handler)\(|exception_handlers\s*=|def process_exception\("
)
_BREAKER_WORDS = ("breaker", "circuit")


@python_rule(
    code="RES008",
    name="dependency-call-without-fallback",
    category=Category.RESILIENCE,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="HTTP handler calls another service with no error handling or circuit breaker",
    calls=tuple(sorted(_HANDLER_HTTP_CALLS)),
    nodes=(ModuleEnd,),
    fix="Catch the client's errors (timeouts, connection errors, 5xx) and answer with a "
    "fallback or a clear 502/503, or wrap the dependency in a circuit breaker.",
)
def dependency_call_without_fallback(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags HTTP calls to another service (`requests`, `httpx`, `aiohttp`, `urlopen`) made
    directly in a route handler outside any `try`/`except`, when the handler is not behind a
    circuit breaker (`pybreaker`, `circuitbreaker`, `aiobreaker`) and the module registers no
    app-wide exception handler (`@app.exception_handler`, `add_exception_handler`, Flask
    `errorhandler`/`register_error_handler`).

    ## Why it breaks production
    Every dependency times out sooner or later. Uncaught, the client's `ReadTimeout` or
    `ConnectError` becomes a bare 500 with a stack trace for every request of the endpoint --
    even when a cached value, a default or a clear 503 with `Retry-After` would have kept the
    page working -- and the callers' retries add load to the dependency that is already
    struggling.

    ## Example
    ```python
    @app.get("/products/{sku}")
    def product(sku: str):
        stock = requests.get(f"{INVENTORY_URL}/stock/{sku}", timeout=2).json()
        return {"sku": sku, "stock": stock["available"]}
    ```

    ## Use instead
    ```python
    @app.get("/products/{sku}")
    def product(sku: str):
        try:
            resp = requests.get(f"{INVENTORY_URL}/stock/{sku}", timeout=2)
            resp.raise_for_status()
            available = resp.json()["available"]
        except requests.RequestException:
            log.warning("inventory unavailable", extra={"sku": sku})
            available = None  # the page still renders; stock shows as unknown
        return {"sku": sku, "stock": available}
    ```
    """
    pending: list[ast.Call] = ctx.rule_state(list, module=True)
    if isinstance(node, ast.Module):  # ModuleEnd
        if not pending or not in_service_code(ctx) or _APP_ERROR_HANDLERS.search(ctx.source):
            return
        for call in pending:
            ctx.report(
                call,
                f"{ctx.segment(call.func)}() to another service is not inside any try/except: "
                "a timeout or connection error of the dependency becomes a 500 for every "
                "request of this endpoint. Catch the client's errors and answer with a "
                "fallback or a 502/503 (or put the call behind a circuit breaker)",
            )
        return
    assert isinstance(node, ast.Call)
    scope = ctx.function
    if scope is None or scope.route is None or ctx.facts.is_test:
        return
    if any(t.handlers for t in ctx.trys) or ctx.handlers:
        return
    name = ctx.call_name or ""
    if name.startswith(("requests.", "urllib.")) and not has_keyword(node, "timeout"):
        return  # RES001 reports the missing timeout first; that is the fix to make
    cache: dict[str, bool] = ctx.rule_state(dict)
    if "breaker" not in cache:
        function = scope.node
        first = min([function.lineno, *(d.lineno for d in function.decorator_list)])
        lines = ctx.lines[first - 1 : function.end_lineno]
        code = " ".join(line.split("#", 1)[0].lower() for line in lines)  # not comments
        cache["breaker"] = any(word in code for word in _BREAKER_WORDS)
    if cache["breaker"] or cache.get("reported"):
        return  # one finding per handler: its first unprotected call
    cache["reported"] = True
    pending.append(node)


# -- in-process work queues (RES009) ---------------------------------------------------------

# Constructor -> position of its bound (maxsize / maxlen); None: the type cannot be bounded.
_QUEUE_TYPES: dict[str, int | None] = {
    "queue.Queue": 0,
    "queue.LifoQueue": 0,
    "queue.PriorityQueue": 0,
    "queue.SimpleQueue": None,
    "asyncio.Queue": 0,
    "asyncio.LifoQueue": 0,
    "asyncio.PriorityQueue": 0,
    "asyncio.queues.Queue": 0,
    "multiprocessing.Queue": 0,
    "multiprocessing.JoinableQueue": 0,
    "multiprocessing.SimpleQueue": None,
    "janus.Queue": 0,
    "collections.deque": 1,
}
_QUEUE_CLASS_NAMES = frozenset(name.rsplit(".", 1)[-1] for name in _QUEUE_TYPES)
_PUTS = frozenset({"put", "put_nowait"})
_APPENDS = frozenset({"append", "appendleft", "extend"})
_TAKES = frozenset({"popleft", "pop"})


@dataclass(slots=True)
class _QueueState:
    # key -> (constructor call, type name); key: ("name", module name) or ("attr", attribute)
    queues: dict[tuple[str, str], tuple[ast.Call, str]] = field(default_factory=dict)
    fed: set[tuple[str, str]] = field(default_factory=set)  # put from a function
    taken: set[tuple[str, str]] = field(default_factory=set)  # deque popped: a work queue


def _unbounded_queue(call: ast.Call, ctx: PythonContext) -> str | None:
    """The queue type when ``call`` builds an in-process queue with no bound."""
    func = call.func
    last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if last not in _QUEUE_CLASS_NAMES:
        return None
    name = ctx.qualname(func) or ""
    if name not in _QUEUE_TYPES or has_star_kwargs(call):
        return None
    position = _QUEUE_TYPES[name]
    if position is None:
        return name
    bound = argument(call, position, "maxlen" if name == "collections.deque" else "maxsize")
    if isinstance(bound, ast.Name):
        bound = ctx.value_of(bound.id) or bound
    if bound is None or is_none(bound):
        return name
    value = bound.value if isinstance(bound, ast.Constant) else None
    if isinstance(value, int) and not isinstance(value, bool) and value <= 0:
        return name
    return None


def _queue_key(expr: ast.expr, ctx: PythonContext) -> tuple[str, str] | None:
    """How a queue is named: a module-level name, or the last part of an attribute."""
    if isinstance(expr, ast.Attribute):
        return ("attr", expr.attr)
    if isinstance(expr, ast.Name):
        return None if is_local_name(expr.id, ctx) else ("name", expr.id)
    return None


@python_rule(
    code="RES009",
    name="unbounded-in-process-queue",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    summary="In-process work queue without maxsize: under load the backlog grows until OOM",
    nodes=(ast.Assign, ast.AnnAssign, ModuleEnd),
    calls=tuple(f"*.{method}" for method in sorted(_PUTS | _APPENDS | _TAKES)),
    fix="Bound the queue (queue.Queue(maxsize=1000), asyncio.Queue(maxsize=...), "
    "deque(maxlen=...)) and decide what happens when it is full: wait with a timeout, "
    "reject with 503/429, or drop with a metric.",
)
def unbounded_in_process_queue(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags in-process work queues created at module level or as an attribute -- `queue.Queue()`,
    `queue.SimpleQueue()`, `asyncio.Queue()`, `multiprocessing.Queue()`, `janus.Queue()` --
    without a positive `maxsize`, when the module puts work on them; and `collections.deque()`
    without `maxlen` that request handlers or tasks append to and something pops from. Only in
    service code.

    ## Why it breaks production
    An unbounded queue turns overload into a memory leak. When producers (requests, webhooks,
    a fast upstream) outpace the consumer -- a slow database, a stuck worker thread -- the
    backlog grows without limit: latency for queued work climbs to minutes, memory climbs
    until the container is OOM-killed, and every queued job is lost with it. A bounded queue
    pushes back instead: the producer waits, sheds load or answers 503 while the service
    stays healthy.

    ## Example
    ```python
    email_jobs: asyncio.Queue[dict] = asyncio.Queue()

    @app.post("/signup")
    async def signup(user: NewUser):
        await email_jobs.put({"to": user.email, "template": "welcome"})
    ```

    ## Use instead
    ```python
    email_jobs: asyncio.Queue[dict] = asyncio.Queue(maxsize=1000)

    @app.post("/signup")
    async def signup(user: NewUser):
        try:
            email_jobs.put_nowait({"to": user.email, "template": "welcome"})
        except asyncio.QueueFull:
            raise HTTPException(503, "busy, retry later", headers={"Retry-After": "5"})
    ```
    For work that must survive a restart, use a real broker (SQS, RabbitMQ, Redis streams).
    """
    state: _QueueState = ctx.rule_state(_QueueState, module=True)
    if isinstance(node, ast.Module):  # ModuleEnd
        if not state.queues or not in_service_code(ctx):
            return
        for key, (call, kind) in state.queues.items():
            if key not in state.fed:
                continue
            if kind == "collections.deque":
                if key not in state.taken:
                    continue
                message = (
                    f"deque {key[1]} is used as a work queue without maxlen: when producers "
                    "outpace the consumer the backlog grows until the worker runs out of "
                    "memory. Bound it (or use queue.Queue(maxsize=...)) and shed load when full"
                )
            else:
                short = kind.split(".", 1)[-1] if kind.startswith("queue.") else kind
                message = (
                    f"{short}() {key[1]} has no maxsize: when producers outpace the consumer "
                    "the backlog grows until the worker runs out of memory and every queued "
                    "job is lost. Pass maxsize= and handle a full queue (wait with a timeout "
                    "or answer 503)"
                )
            ctx.report(call, message)
        return
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    if isinstance(node, ast.Call):
        _queue_use(node, ctx, state)
        return
    assert isinstance(node, ast.Assign | ast.AnnAssign)
    _queue_definition(node, ctx, state)


def _queue_definition(
    node: ast.Assign | ast.AnnAssign, ctx: PythonContext, state: _QueueState
) -> None:
    """``JOBS = asyncio.Queue()`` at module level, ``self.jobs = queue.Queue()``."""
    value = node.value
    if not isinstance(value, ast.Call):
        return
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    kind: str | None = None
    for target in targets:
        key: tuple[str, str] | None = None
        if isinstance(target, ast.Attribute):
            key = ("attr", target.attr)
        elif isinstance(target, ast.Name) and ctx.function is None:
            key = ("attr" if ctx.classes else "name", target.id)
        if key is None:
            continue
        kind = kind or _unbounded_queue(value, ctx)
        if kind is None:
            return
        state.queues[key] = (value, kind)


def _queue_use(node: ast.Call, ctx: PythonContext, state: _QueueState) -> None:
    func = node.func
    if not isinstance(func, ast.Attribute) or ctx.function is None:
        return
    key = _queue_key(func.value, ctx)
    if key is None:
        return
    if func.attr in _PUTS:
        state.fed.add(key)
    elif func.attr in _TAKES:
        state.taken.add(key)
    elif ctx.route is not None or in_task(ctx):
        state.fed.add(key)  # appended to by a request handler or a task
