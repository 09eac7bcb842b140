"""Resilience: long-running consumers started as unsupervised background tasks or threads
(RES018), and AMQP consumers on a connection that never reconnects (RES019)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    ModuleEnd,
    ProjectFact,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import keyword_value, walk_nodes

# -- RES018 ---------------------------------------------------------------------------------------

# The names long-running loops are given: a consumer, a listener, a poller, a "forever" loop.
# Used only when the started function is defined in another module (its body is not visible).
_WORKER_NAME = re.compile(
    r"consum|listen|pubsub|subscri|poll|watch|worker|forever|(?:^|_)loop(?:$|_)|drain|ingest|tail_"
    r"|process_(?:queue|messages|events|jobs)",
    re.IGNORECASE,
)
_TASK_STARTERS = frozenset({"asyncio.create_task", "asyncio.ensure_future"})
_THREAD_TYPES = frozenset({"threading.Thread"})
# Module text that observes how a background task or thread ended: a done-callback, a look at
# its exception, a liveness check.
_OBSERVERS = ("add_done_callback", ".exception()", ".is_alive()", ".done()")
_FOREVER_CALLS = frozenset({"consume", "start_consuming", "run_forever", "serve_forever"})


def restarting_worker(name: str) -> ProjectFact:
    """A function or method of the project named ``name`` restarts its own loop after a
    failure (``while True: try: ... except Exception: log; sleep``)."""
    return ProjectFact(
        f"restarting-worker:{name}", f"{name}() restarts its loop after a failure by itself"
    )


def _forever_loop(loop: ast.While) -> bool:
    test = loop.test
    if isinstance(test, ast.Constant):
        return bool(test.value)
    # while running: / while not self._stopping.is_set(): -- a loop ended only by shutdown
    return isinstance(test, ast.Name | ast.Attribute | ast.UnaryOp | ast.Call)


def _long_running(function: ast.AST) -> bool:
    """The function loops until shutdown: a forever ``while``, an ``async for``, a ``for``
    over a consumer or a subscription (``for record in consumer``, ``pubsub.listen()``), or a
    call that consumes until the connection closes."""
    for node in ast.walk(function):
        if isinstance(node, ast.While) and _forever_loop(node):
            return True
        if isinstance(node, ast.AsyncFor) and not _one_operation_body(node, function):
            return True
        if isinstance(node, ast.For) and _WORKER_NAME.search(ast.unparse(node.iter)):
            return True
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in _FOREVER_CALLS:
                return True
    return False


# HTTP methods whose streamed answer reports one operation (its progress, its result rows):
# it ends with the operation. A GET stream may be a subscription with no end.
_OPERATION_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _one_operation_body(loop: ast.AsyncFor, function: ast.AST) -> bool:
    """``async for chunk in stream.aiter_text()`` where ``stream`` is the answer of ``async
    with client.stream("DELETE", url) as stream``: the loop reads one operation's answer and
    ends with it."""
    iterated = loop.iter
    if not (
        isinstance(iterated, ast.Call)
        and isinstance(iterated.func, ast.Attribute)
        and iterated.func.attr.startswith("aiter_")
        and isinstance(iterated.func.value, ast.Name)
    ):
        return False
    stream = iterated.func.value.id
    for node in ast.walk(function):
        if isinstance(node, ast.AsyncWith):
            for item in node.items:
                opened = item.context_expr
                if (
                    isinstance(item.optional_vars, ast.Name)
                    and item.optional_vars.id == stream
                    and isinstance(opened, ast.Call)
                    and isinstance(opened.func, ast.Attribute)
                    and opened.func.attr == "stream"
                    and opened.args
                    and isinstance(opened.args[0], ast.Constant)
                    and str(opened.args[0].value).upper() in _OPERATION_METHODS
                ):
                    return True
    return False


_IO_CALL = re.compile(
    r"\.(?:get|recv|receive|fetch|read|execute|send|post|request|xread\w*|b[lr]pop)\("
)


def _talks_to_the_outside(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """The loop waits on something outside the process: a coroutine (its awaits are I/O), a
    consumer or subscription, or a receiving/fetching call -- not a periodic sweep of the
    process's own memory."""
    if isinstance(function, ast.AsyncFunctionDef):
        return True
    body = "\n".join(ast.unparse(statement) for statement in function.body)
    return bool(_WORKER_NAME.search(body) or _IO_CALL.search(body))


def _swallows(handler: ast.ExceptHandler) -> bool:
    """A handler that lets the loop go on: it neither re-raises nor returns."""
    return not any(isinstance(node, ast.Raise | ast.Return) for node in ast.walk(handler))


def _restarts_itself(function: ast.AST) -> bool:
    """``while True: try: <the work> except Exception: <log, sleep>``: a failure of the work
    (the connection, the consumer, a handler) is caught by a handler that goes round again."""
    for node in walk_nodes(function):
        if not isinstance(node, ast.While) or not _forever_loop(node):
            continue
        for statement in node.body:
            if isinstance(statement, ast.Try) and any(
                _broad(handler) and _swallows(handler) for handler in statement.handlers
            ):
                return True
    return False


def _broad(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(
        (isinstance(name, ast.Name) and name.id in {"Exception", "BaseException"})
        or (isinstance(name, ast.Attribute) and name.attr in {"Exception", "BaseException"})
        for name in names
    )


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    return {
        node.name: node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def _callee_name(call: ast.expr) -> str | None:
    if not isinstance(call, ast.Call):
        return None
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _started_work(node: ast.Call, ctx: PythonContext) -> tuple[ast.expr, str] | None:
    """What a task or thread start runs: (the callee expression, its last name)."""
    name = ctx.call_name or ""
    if name in _TASK_STARTERS or (
        isinstance(node.func, ast.Attribute)
        and node.func.attr == "create_task"
        and "loop" in ctx.segment(node.func.value).lower()
    ):
        work = node.args[0] if node.args else None
        callee = _callee_name(work) if work is not None else None
        if isinstance(work, ast.Call) and callee is not None:
            return work.func, callee
        return None
    if name in _THREAD_TYPES:
        target = keyword_value(node, "target")
        if isinstance(target, ast.Name):
            return target, target.id
        if isinstance(target, ast.Attribute):
            return target, target.attr
    return None


def _observed(node: ast.Call, ctx: PythonContext) -> bool:
    """The task is awaited or gathered where it is created, or the module looks at how its
    background work ended (a done-callback, its exception, a liveness check)."""
    parent = ctx.parent(node)
    if isinstance(parent, ast.Await) or (
        isinstance(parent, ast.Call) and parent is not node and "gather" in ctx.segment(parent)
    ):
        return True
    if any(marker in ctx.source for marker in _OBSERVERS):
        return True
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1:
        held = ctx.segment(parent.targets[0])
        awaited = rf"await\s+{re.escape(held)}(?!\w)|gather\([^)]*{re.escape(held)}"
        return bool(re.search(awaited, ctx.source))
    return False


@python_rule(
    code="RES018",
    name="unsupervised-background-worker",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Long-running consumer started as a background task or thread nobody watches",
    calls=(*_TASK_STARTERS, "*.create_task", *_THREAD_TYPES),
    nodes=(FunctionEnd, ModuleEnd),
    fix="Supervise the loop: restart it after a failure (while True: try: ... except Exception: "
    "log.exception(...); await asyncio.sleep(backoff)), add a done-callback that logs and "
    "fails the readiness check, and cancel it on shutdown -- or run the consumer as its own "
    "process (a worker Deployment) that the orchestrator restarts.",
)
def unsupervised_background_worker(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a long-running loop -- a queue or stream consumer, a poller, a `while True` worker --
    started outside a request (at startup, in a lifespan or `on_startup` hook, in an app
    factory, at import) as `asyncio.create_task(...)`, `asyncio.ensure_future(...)`,
    `loop.create_task(...)` or `threading.Thread(target=...).start()`, when nothing watches how
    it ends: no done-callback, no `await`/`gather` of the task, no look at its exception or
    liveness, and the loop does not restart itself after a failure. A function defined in the
    module is judged by its body (a forever `while`, an `async for`, a `consume()` call; an
    `async for` over the streamed answer of one POST/PUT/PATCH/DELETE request reads that
    operation's updates and ends with it, so it alone makes no worker); one
    imported from elsewhere by its name (`consume*`, `listen*`, `poll*`, `*_forever`,
    `*worker*`...) unless the project defines it with a restart loop. Tasks started inside a
    request handler are CON007's and STA007's.

    ## Why it breaks production
    The first exception ends the loop for good: the broker is down for a second at startup,
    a poison message raises outside the per-message `try`, a connection drops. The task dies
    with its exception stored and never read (asyncio logs it only when the task is garbage
    collected, if ever); a thread prints a traceback to stderr and is gone. The web process
    keeps answering and its health check stays green, so nothing restarts it -- messages pile
    up in the queue, or events are silently not processed, until someone notices the lag.

    ## Example
    ```python
    @app.on_event("startup")
    async def start_consumer():
        asyncio.create_task(consume_orders())
    ```

    ## Use instead
    ```python
    async def consume_forever():
        while True:
            try:
                await consume_orders()
            except Exception:
                log.exception("order consumer crashed; restarting")
                await asyncio.sleep(5)

    @asynccontextmanager
    async def lifespan(app):
        task = asyncio.create_task(consume_forever(), name="orders-consumer")
        task.add_done_callback(report_consumer_exit)  # logs, flips readiness
        yield
        task.cancel()
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):  # FunctionEnd
        if _restarts_itself(node):
            ctx.establish(restarting_worker(node.name))
        return
    if isinstance(node, ast.Module):  # ModuleEnd: every function of the module is known
        pending: list[tuple[ast.Call, ast.expr, str]] = ctx.rule_state(list, module=True)
        if not pending:
            return
        local = _functions(ctx.tree)
        for call, callee, name in pending:
            defined = local.get(name)
            if defined is not None:
                if not _long_running(defined) or _restarts_itself(defined):
                    continue
                if not _talks_to_the_outside(defined):
                    continue  # a periodic in-memory sweep: its end loses no message
                unless: tuple[ProjectFact, ...] = ()
            else:
                if not _WORKER_NAME.search(ctx.segment(callee)):
                    continue
                unless = (restarting_worker(name),)
            what = "thread" if (ctx.qualname(call.func) or "") in _THREAD_TYPES else "task"
            ctx.report(
                call,
                f"{ctx.segment(callee)}() runs until shutdown in a background {what} nobody "
                "watches: its first unhandled exception (a broker blip at startup, a lost "
                "connection) ends it for good while the service keeps answering and stays "
                "healthy, so messages pile up unprocessed. Restart it on failure, observe its "
                "end (done-callback, readiness) and cancel it on shutdown",
                unless=unless,
            )
        return
    if not isinstance(node, ast.Call) or ctx.route is not None:
        return
    started = _started_work(node, ctx)
    if started is None:
        return
    if (ctx.qualname(node.func) or "") in _THREAD_TYPES:
        parent = ctx.parent(node)
        started_here = isinstance(parent, ast.Attribute) and parent.attr == "start"
        if not started_here and not isinstance(parent, ast.Assign):
            return
        if ".join(" in ctx.source or any(marker in ctx.source for marker in _OBSERVERS):
            return
    elif _observed(node, ctx):
        return
    pending = ctx.rule_state(list, module=True)
    pending.append((node, started[0], started[1]))


# -- RES019 ---------------------------------------------------------------------------------------

_PLAIN_AMQP_CONNECTS = frozenset({"aio_pika.connect", "aio_pika.connection.connect"})
_CONSUMING = (".consume(", ".iterator(")


def _inside_restart_loop(node: ast.AST, ctx: PythonContext) -> bool:
    """The connect runs inside ``while ...: try: ... except ...:`` of its own function: the
    loop reconnects when the connection is lost."""
    current = ctx.parent(node)
    inside_try = False
    while current is not None and not isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef):
        if isinstance(current, ast.Try) and current.handlers:
            inside_try = True
        if isinstance(current, ast.While) and inside_try:
            return True
        current = ctx.parent(current)
    return False


@python_rule(
    code="RES019",
    name="amqp-consumer-without-reconnect",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="aio-pika consumer on aio_pika.connect(), which never reconnects (not connect_robust)",
    calls=tuple(_PLAIN_AMQP_CONNECTS),
    fix="Use aio_pika.connect_robust(url, ...): the RobustConnection reconnects and restores its "
    "channels, queues and consumers after the broker restarts or the network drops.",
)
def amqp_consumer_without_reconnect(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `aio_pika.connect(...)` in a module that consumes from RabbitMQ (`queue.consume(...)`,
    `queue.iterator()`), unless the connect runs inside a retry loop that reconnects
    (`while ...: try: connect ... except ...`). Publishers and one-shot scripts are not
    flagged; `aio_pika.connect_robust(...)` is the fix.

    ## Why it breaks production
    `aio_pika.connect` returns a plain `Connection`: when RabbitMQ restarts, fails over, or a
    load balancer drops the idle TCP connection, the connection closes and its channels and
    consumers are gone for good. Nothing raises in the code that started consuming -- the
    callback simply stops being called. The service stays up and healthy while messages pile up
    in the queue until someone restarts it. `connect_robust` returns a `RobustConnection` that
    reconnects with backoff and re-declares its channels, queues and consumers.

    ## Example
    ```python
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    queue = await channel.declare_queue("invoices", durable=True)
    await queue.consume(on_invoice)
    ```

    ## Use instead
    ```python
    connection = await aio_pika.connect_robust(AMQP_URL, timeout=10)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=20)
    queue = await channel.declare_queue("invoices", durable=True)
    await queue.consume(on_invoice)
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    if not any(marker in ctx.source for marker in _CONSUMING):
        return
    if _inside_restart_loop(node, ctx):
        return
    ctx.report(
        node,
        "aio_pika.connect() returns a connection that never reconnects: after a broker restart "
        "or a dropped TCP connection this consumer's channel and consumers are gone for good, "
        "while the service stays up and healthy. Use aio_pika.connect_robust()",
    )
