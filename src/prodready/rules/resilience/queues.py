"""Resilience: unbounded in-process queues (RES009); broker consumers that settle a message before
processing it (RES012), requeue it forever (RES013), never notice a dead broker (RES014) or take
every message at once (RES016)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    ModuleEnd,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    argument,
    has_star_kwargs,
    in_service_code,
    in_task,
    is_local_name,
    is_none,
)
from prodready.rules.resilience._consumers import (
    LIST_POPS,
    blocks,
    loop_targets,
    process_block_left_early,
    processing_call,
    received_names,
    settle_call,
    statement_call,
    uses_broker,
)
from prodready.rules.resilience._requeues import (
    disabled_heartbeat,
    heartbeat_setting,
    late_acks_without_prefetch_limit,
    requeued_forever,
)

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


# -- messages settled before they are processed (RES012) ---------------------------------------

_SETTLED_WHAT = {
    "offset": "the offset is committed",
    "ack": "the message is acknowledged",
    "xack": "the stream entry is acknowledged (XACK)",
    "delete_message": "the SQS message is deleted",
    "delete_message_batch": "the SQS messages are deleted",
}


@python_rule(
    code="RES012",
    name="message-settled-before-processing",
    category=Category.RESILIENCE,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    summary="Consumer commits, acks, deletes or pops a message before processing it: at-most-once",
    nodes=(FunctionEnd,),
    fix="Process first, then settle: commit the offset (or ack, XACK, delete) once the work is "
    "done and make the processing idempotent; for a Redis list queue move the item to a "
    "processing list (BLMOVE) and remove it after the work, or use a stream consumer group.",
)
def message_settled_before_processing(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags consumers that tell the broker a message is done before doing the work it asks for:
    a Kafka offset committed or stored (confluent-kafka `commit(msg)`/`store_offsets`,
    kafka-python and aiokafka `commit()`) before the call that processes the message, an AMQP
    ack (`basic_ack`, aio-pika/kombu `message.ack()`) inside a consumer loop or block before the
    processing, an aio-pika `async with message.process():` block that ends (and so acks)
    before the work done with what it decoded, a Redis stream `XACK` or an SQS
    `delete_message` before it, and an item popped off a Redis list
    (`LPOP`/`RPOP`/`BLPOP`/`BRPOP`) in a worker loop and then processed. The processing is a
    call given the message or a value computed from it (decoding and logging do not count).
    An ack as the first statement of a callback is CON005's.

    ## Why it breaks production
    Settling is the consumer's receipt: the broker deletes the message or moves the group's
    offset past it. When the worker then crashes, is OOM-killed, is stopped by a deploy, or the
    processing raises, nothing redelivers it -- the reading, the order, the notification is
    silently lost, and there is nothing to retry or dead-letter. That is at-most-once delivery,
    chosen by accident.

    ## Example
    ```python
    while True:
        msg = consumer.poll(1.0)
        if msg is None or msg.error():
            continue
        consumer.commit(msg)
        handle(json.loads(msg.value()))
    ```

    ## Use instead
    ```python
    while running:
        msg = consumer.poll(1.0)
        if msg is None or msg.error():
            continue
        handle(json.loads(msg.value()))  # idempotent: a redelivery after a crash is harmless
        consumer.commit(msg, asynchronous=False)
    ```
    For a Redis list, `BLMOVE jobs processing` and `LREM processing` after the work (or a
    stream with a consumer group and `XACK` after it).
    """
    if ctx.facts.is_test or ctx.facts.is_example or not uses_broker(ctx):
        return
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or ctx.function is None:
        return
    params = {param.arg for param in ctx.function.params} - {"self", "cls"}
    messages = params | loop_targets(node) | received_names(node, ctx)
    in_while = {id(s.body) for s in ast.walk(node) if isinstance(s, ast.While)}
    for block in blocks(node):
        for index, statement in enumerate(block):
            rest = block[index + 1 :]
            if isinstance(statement, ast.With | ast.AsyncWith):
                process_block_left_early(statement, rest, messages, ctx)
                continue
            call = statement_call(statement)
            if call is None or not isinstance(call.func, ast.Attribute):
                continue
            if call.func.attr in LIST_POPS and isinstance(statement, ast.Assign):
                if id(block) not in in_while:
                    continue
                popped = {
                    n.id for t in statement.targets for n in ast.walk(t) if isinstance(n, ast.Name)
                }
                work = processing_call(rest, popped, ctx)
                if work is not None:
                    ctx.report(
                        call,
                        f"{call.func.attr}() removes the item from the Redis list before it is "
                        f"processed (line {work.lineno}): if the worker crashes, is stopped by a "
                        "deploy or the processing raises, the item exists nowhere and is lost. "
                        "Move it to a processing list with BLMOVE/LMOVE and remove it after the "
                        "work, or use a stream with a consumer group",
                    )
                continue
            if block is node.body and (
                call.func.attr == "basic_ack"
                or (
                    call.func.attr == "ack"
                    and isinstance(call.func.value, ast.Name)
                    and call.func.value.id in params
                )
            ):
                continue  # a callback that acks first: CON005
            settled = settle_call(call, messages, ctx)
            if settled is None:
                continue
            kind, message = settled
            work = processing_call(rest, message, ctx)
            if work is None:
                continue
            ctx.report(
                call,
                f"{_SETTLED_WHAT[kind]} before the processing (line {work.lineno}): "
                "if the worker crashes, is stopped by a deploy or the processing raises, the "
                "broker already counts it as done and never redelivers it. Settle it after the "
                "processing",
            )


# -- failed messages requeued forever (RES013) --------------------------------------------------


@python_rule(
    code="RES013",
    name="message-requeued-forever",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    summary="Failed message requeued on every error with no redelivery limit or dead-letter queue",
    calls=("*.basic_nack", "*.basic_reject", "*.nack", "*.reject", "*.requeue", "*.process"),
    fix="Reject without requeue (basic_nack(requeue=False)) into a dead-letter exchange, or "
    "count redeliveries (message.redelivered, the x-death header, a quorum queue's "
    "x-delivery-limit) and stop after a few; requeue only errors that are transient.",
)
def message_requeued_forever(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags AMQP consumers that put a failed message back on its queue from a broad `except`
    block (or one catching `ValueError`, `KeyError`, a JSON or validation error) with nothing
    counting redeliveries: pika `basic_nack(...)`/`basic_reject(...)` (both requeue by default),
    aio-pika `message.nack()` (requeues by default) or `reject(requeue=True)`, kombu
    `message.requeue()`, and aio-pika `message.process(requeue=True)`. A consumer that reads
    `redelivered`, an `x-death`/delivery-count header or an attempt counter, or whose queue has
    an `x-delivery-limit`, is left alone, as is a `requeue=` decided at run time.

    ## Why it breaks production
    A message that fails for a reason that will not go away -- malformed JSON, a missing field,
    a row that does not exist, a bug -- comes straight back, fails again and is requeued again,
    forever. The consumer spins at full speed on the poison message, floods the logs, holds a
    prefetch slot, and the messages behind it wait; a dead-letter exchange never sees it
    because requeued messages are not dead-lettered.

    ## Example
    ```python
    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            await handle(json.loads(message.body))
            await message.ack()
        except Exception:
            logger.exception("handler failed")
            await message.nack()
    ```

    ## Use instead
    ```python
    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            await handle(json.loads(message.body))
            await message.ack()
        except TransientError:
            await message.nack(requeue=not message.redelivered)  # one more try, then DLX
        except Exception:
            logger.exception("handler failed, dead-lettering")
            await message.reject(requeue=False)  # queue declared with x-dead-letter-exchange
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    why = requeued_forever(node, ctx)
    if why is None:
        return
    ctx.report(
        node,
        f"{why} with no redelivery limit: a message that can never succeed (malformed, "
        "missing data, a bug) comes straight back and fails again forever, spinning the "
        "consumer and blocking the messages behind it. Dead-letter it (requeue=False with a "
        "dead-letter exchange) or stop after a few redeliveries",
    )


# -- AMQP heartbeats turned off (RES014) --------------------------------------------------------


@python_rule(
    code="RES014",
    name="amqp-heartbeat-disabled",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    summary="AMQP connection with heartbeats disabled (heartbeat=0): a dead broker goes unnoticed",
    calls=("pika.*", "aio_pika.*", "aiormq.*", "kombu.*", "amqpstorm.*"),
    nodes=(ast.Assign, ast.Constant),
    fix="Keep heartbeats on (pika's default is the broker's 60 s; a few tens of seconds is "
    "usual) and run long work off the connection's thread so it can answer them.",
)
def amqp_heartbeat_disabled(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags AMQP connections whose heartbeats are turned off: `heartbeat=0` passed to pika's
    `ConnectionParameters`, aio-pika/aiormq `connect`/`connect_robust` or kombu's `Connection`,
    `params.heartbeat = 0`, an `amqp://...?heartbeat=0` URL, and Celery's
    `broker_heartbeat = 0`.

    ## Why it breaks production
    Heartbeats are how both ends of an AMQP connection find out the other is gone. Without
    them a connection that dies silently -- a broker failover, a NAT or load-balancer idle
    timeout, a half-open TCP socket -- is never detected: the consumer sits waiting on a socket
    that will never deliver again, the broker may keep its unacked messages locked to the dead
    channel, and nothing reconnects. The worker looks alive while the queue backs up.

    ## Example
    ```python
    params = pika.URLParameters(os.environ["AMQP_URL"])
    params.heartbeat = 0  # long jobs kept timing out
    ```

    ## Use instead
    ```python
    params = pika.URLParameters(os.environ["AMQP_URL"])
    params.heartbeat = 30
    # run long jobs in a thread and ack with connection.add_callback_threadsafe(...)
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    if isinstance(node, ast.Call):
        value = disabled_heartbeat(node)
        if value is not None:
            ctx.report(
                value,
                "heartbeat=0 turns AMQP heartbeats off: a broker that dies or a connection "
                "that is silently dropped (failover, idle timeout) is never detected, so the "
                "consumer waits forever on a dead socket while the queue backs up. Keep "
                "heartbeats on (e.g. 30-60 s)",
            )
        return
    why = heartbeat_setting(node, ctx)
    if why is None:
        return
    ctx.report(
        node,
        f"{why} turns AMQP heartbeats off: a broker that dies or a connection that is "
        "silently dropped (failover, idle timeout) is never detected, so the consumer waits "
        "forever on a dead socket while the queue backs up. Keep heartbeats on (e.g. 30-60 s)",
    )


# -- consumers without a prefetch limit (RES016) ------------------------------------------------

_QOS_WORDS = ("basic_qos(", "set_qos(", "prefetch_count", ".qos(")


@python_rule(
    code="RES016",
    name="consumer-without-prefetch-limit",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="AMQP consumer on a channel with no prefetch (QoS) limit: the broker pushes it all",
    calls=(
        "*.basic_consume",
        "*.consume",
        "*.iterator",
        "kombu.Consumer",
        "kombu.messaging.Consumer",
    ),
    nodes=(ast.Assign,),
    fix="Set a prefetch limit on the channel before consuming: channel.basic_qos(prefetch_count="
    "10) (pika), await channel.set_qos(prefetch_count=10) (aio-pika), Consumer(..., "
    "prefetch_count=10) (kombu), worker_prefetch_multiplier = 1 with Celery's acks_late.",
)
def consumer_without_prefetch_limit(node: ast.Call | ast.Assign, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags AMQP consumers with manual acknowledgement on a channel the module opens itself
    (`connection.channel()`) but never limits with a prefetch count: pika `basic_consume(...)`
    without `channel.basic_qos(prefetch_count=...)`, aio-pika `queue.consume(...)` /
    `queue.iterator()` without `await channel.set_qos(prefetch_count=...)`, kombu `Consumer(...)`
    without `prefetch_count=`. Auto-ack consumers are CON005's. Celery settings that turn on
    `task_acks_late` in a module that never sets `worker_prefetch_multiplier` are reported at
    low severity: each worker process then reserves (and holds unacknowledged) four tasks per
    process behind the long one it is running.

    ## Why it breaks production
    Without a prefetch limit RabbitMQ sends a consumer every ready message at once. A backlog of
    a million messages lands in one worker's memory (and its unacked count) until it is
    OOM-killed -- then all of them are redelivered to the next worker, which dies the same way.
    The other consumers sit idle meanwhile, because the first one holds every message.

    ## Example
    ```python
    channel = connection.channel()
    channel.basic_consume(queue="thumbnails", on_message_callback=render)
    channel.start_consuming()
    ```

    ## Use instead
    ```python
    channel = connection.channel()
    channel.basic_qos(prefetch_count=10)
    channel.basic_consume(queue="thumbnails", on_message_callback=render)
    channel.start_consuming()
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    if isinstance(node, ast.Assign):
        if late_acks_without_prefetch_limit(node, ctx):
            ctx.report(
                node,
                "task_acks_late without worker_prefetch_multiplier: every worker process "
                "reserves several tasks it has not started (4 by default) and holds them "
                "unacknowledged behind a long one, while other workers idle. Set "
                "worker_prefetch_multiplier = 1 with late acks",
                severity=Severity.LOW,
            )
        return
    func = node.func
    name = ctx.call_name or ""
    source = ctx.source
    if any(word in source for word in _QOS_WORDS) or ".channel(" not in source:
        return
    if has_star_kwargs(node) or any(
        item.arg in {"auto_ack", "no_ack"}
        and not (isinstance(item.value, ast.Constant) and item.value.value is False)
        for item in node.keywords
    ):
        return  # auto-ack (CON005), or decided elsewhere
    if name.startswith("kombu."):
        what = "kombu Consumer(...) without prefetch_count="
    elif isinstance(func, ast.Attribute) and func.attr == "basic_consume":
        if "pika" not in source:
            return
        what = "basic_consume() on a channel without basic_qos(prefetch_count=...)"
    elif isinstance(func, ast.Attribute) and func.attr in {"consume", "iterator"}:
        if "aio_pika" not in source or not isinstance(func.value, ast.Name):
            return
        if "queue" not in func.value.id.lower():
            return
        what = f"{func.attr}() on an aio-pika channel without set_qos(prefetch_count=...)"
    else:
        return
    ctx.report(
        node,
        f"{what}: RabbitMQ pushes every ready message to this consumer at once, so a backlog "
        "fills its memory (and is redelivered wholesale when it dies) while other consumers "
        "idle. Set a prefetch limit before consuming",
    )
