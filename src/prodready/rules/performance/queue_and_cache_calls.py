"""Performance: a background task run inline once per loop item (PRF009), Redis ``KEYS`` over
the keyspace (PRF010)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import is_task_function, module_function

# -- PRF009 ---------------------------------------------------------------------------------------


@python_rule(
    code="PRF009",
    name="task-run-inline-in-loop",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    summary="Background task function called directly in a loop instead of enqueued",
    nodes=(ast.Call,),
    fix="Enqueue one message per item: `task.delay(item.id)` / `task.send(item.id)` (Dramatiq) "
    "/ `queue.enqueue(task, item.id)`, or a Celery group/chord.",
)
def task_run_inline_in_loop(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a call, inside a loop, of a function of the same module that is a background task
    (`@shared_task`, `@app.task`, `@dramatiq.actor`, `@huey.task`, RQ `@job`) called as a plain
    function -- `send_receipt(order.id)` -- instead of enqueued with `.delay()`, `.apply_async()`,
    `.send()` or `queue.enqueue()`.

    ## Why it breaks production
    Calling the task function runs its body right here, one item after the other: a fan-out
    meant to spread 10,000 emails over the worker pool runs serially inside one request or one
    task, blows its time limit, and the first exception aborts every item after it. The task's
    own retry policy, rate limit and time limit do not apply to inline calls.

    ## Example
    ```python
    @app.task(bind=True, max_retries=3)
    def send_invoice(self, invoice_id):
        ...

    @app.task
    def send_month_end_invoices():
        for invoice in Invoice.objects.filter(period=last_month()):
            send_invoice(invoice.id)
    ```

    ## Use instead
    ```python
    @app.task
    def send_month_end_invoices():
        for invoice_id in Invoice.objects.filter(period=last_month()).values_list("id", flat=True):
            send_invoice.delay(invoice_id)
    ```
    """
    if ctx.facts.is_test or ctx.function is None:
        return
    task = module_function(node, ctx)
    if task is None or task is ctx.function.node or not is_task_function(task, ctx):
        return
    if not _in_loop(node, ctx):
        return
    ctx.report(
        node,
        f"{task.name}() is a background task but is called directly inside a loop: each item "
        "runs inline, one after the other, in this process (no worker parallelism, no retry "
        "policy, and the first failure aborts the rest). Enqueue it: "
        f"{task.name}.delay(...) / .send(...)",
    )


def _in_loop(node: ast.AST, ctx: PythonContext) -> bool:
    """``node`` runs once per iteration of a loop of the current function (its body, not its
    iterable)."""
    assert ctx.function is not None
    function = ctx.function.node
    child: ast.AST = node
    parent = ctx.parent(node)
    while parent is not None and parent is not function:
        if isinstance(parent, ast.For | ast.AsyncFor | ast.While) and child in parent.body:
            return True
        if isinstance(parent, ast.ListComp | ast.SetComp | ast.GeneratorExp):
            return child is parent.elt
        child, parent = parent, ctx.parent(parent)
    return False


# -- PRF010 ---------------------------------------------------------------------------------------

_REDIS_CLIENTS = (
    "redis.Redis",
    "redis.StrictRedis",
    "redis.client.Redis",
    "redis.from_url",
    "redis.Redis.from_url",
    "redis.asyncio.Redis",
    "redis.asyncio.StrictRedis",
    "redis.asyncio.from_url",
    "redis.asyncio.Redis.from_url",
    "redis.asyncio.client.Redis",
    "aioredis.Redis",
    "aioredis.from_url",
    "aioredis.StrictRedis",
    "django_redis.get_redis_connection",
)


@python_rule(
    code="PRF010",
    name="redis-keys-command",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    summary="Redis KEYS walks the whole keyspace and blocks the server for every client",
    calls=tuple(f"{client}.keys" for client in _REDIS_CLIENTS),
    fix="Iterate with SCAN (`scan_iter(match=..., count=...)`), or keep the members in a set or "
    "sorted set (`SADD`/`SMEMBERS`, geo indexes for locations).",
)
def redis_keys_command(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags the `KEYS` command of a Redis client -- `r.keys("session:*")` on `redis.Redis`,
    `redis.asyncio`, `aioredis` or django-redis' raw connection -- in service code.

    ## Why it breaks production
    Redis runs commands one at a time, and `KEYS` visits every key of the database whatever
    the pattern: with a few million keys it takes seconds, during which every other client of
    that Redis -- sessions, rate limits, queues -- waits. Redis' own documentation warns to
    never use it in production code; managed Redis services often disable it, so the code
    fails outright there.

    ## Example
    ```python
    async def online_users():
        return [key.split(":", 1)[1] for key in await redis.keys("presence:*")]
    ```

    ## Use instead
    ```python
    async def online_users():
        return list(await redis.smembers("presence"))  # SADD on login, SREM on logout

    # or, to walk keys incrementally without blocking the server:
    keys = [key async for key in redis.scan_iter(match="presence:*", count=500)]
    ```
    """
    if ctx.facts.is_test:
        return
    pattern = node.args[0] if node.args else None
    shown = ctx.segment(pattern) if pattern is not None else '"*"'
    ctx.report(
        node,
        f"KEYS {shown} makes Redis visit every key of the database in one blocking command: "
        "while it runs every other client of this Redis waits (seconds with millions of keys). "
        "Use scan_iter(match=...) or keep the keys in a set",
    )
