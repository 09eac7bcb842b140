"""Performance: a background task run inline once per loop item (PRF009), Redis ``KEYS`` over
the keyspace (PRF010)."""

from __future__ import annotations

import ast
import re
import sys
from bisect import bisect_left

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    Mark,
    ModuleEnd,
    ModuleMemo,
    ProjectContext,
    ProjectFacts,
    PythonContext,
    Severity,
    project_rule,
    python_rule,
)
from prodready.plugin.analysis import (
    is_task_function,
    message_loop,
    same_dotted_name,
    walk_body,
)

# -- PRF009 ---------------------------------------------------------------------------------------

# Calls into these are never a project's task.
_NOT_PROJECT = frozenset(sys.stdlib_module_names) | {"builtins", "django", "celery", "dramatiq"}


def _collect_prf009(node: ast.AST, ctx: PythonContext) -> list[Mark] | None:
    """Evidence: the module's task functions ("task"), and its calls, inside a loop, of a
    plain name or a module attribute that may be one ("inline")."""
    if ctx.facts.is_test:
        return None
    if isinstance(node, ast.Module):
        module = ctx.facts.module
        return [
            Mark.of("task", statement.lineno, name=_in_module(statement.name, module))
            for statement in node.body
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef)
            and is_task_function(statement, ctx)
        ]
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    if not _may_loop(node, ctx):
        return None
    # Without a loop or comprehension of its own (the shared node list of its body: nested
    # functions, classes and lambdas left out, as below) no call runs per item.
    if not any(inner.__class__ in _LOOP_CLASSES for inner in walk_body(node.body)):
        return None
    found: list[Mark] = []
    verdicts: dict[int, bool] = {}  # id(loop) -> whether it runs its body per item
    for call, loop in _calls_with_loop(node.body):
        if loop is None or loop is False:
            continue
        called = _project_call(call, ctx)
        if called is None:
            continue
        if loop is not True:
            verdict = verdicts.get(id(loop))
            if verdict is None:
                verdict = verdicts[id(loop)] = _per_item(loop, ctx)
            if not verdict:
                continue
        found.append(Mark.of("inline", call.lineno, name=called, caller=node.name))
    return found or None


# ``for`` or ``while`` as a word (a keyword is never preceded or followed by a letter of a name).
_LOOP_WORD = re.compile(r"(?<![A-Za-z_])(?:for|while)(?![A-Za-z0-9_])")


def _loop_lines(ctx: PythonContext) -> list[int]:
    # A line with other than ASCII is kept: what it spells is not worth working out.
    # (Substring tests first: most lines have neither word, and the regex is four times slower.)
    return [
        number
        for number, line in enumerate(ctx.lines, 1)
        if (("for" in line or "while" in line) and _LOOP_WORD.search(line)) or not line.isascii()
    ]


# The lines of the module that may hold a loop or a comprehension, in order: a function without
# one among its lines runs no call in a loop, so its body need not be walked.
_LOOP_LINES: ModuleMemo[list[int]] = ModuleMemo("PRF009:loops", _loop_lines)


def _may_loop(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> bool:
    lines = ctx.memo(_LOOP_LINES)
    first = bisect_left(lines, function.lineno)
    return first < len(lines) and lines[first] <= (function.end_lineno or function.lineno)


# What decides whether a call runs once per item: the innermost loop whose body holds it, or
# the innermost comprehension (True in its element, False in its clauses).
_Loop = ast.For | ast.AsyncFor | ast.While | bool | None


# Fields that hold no call (names, flags, and ``ctx``: Load/Store leaves).
_NO_CALLS = frozenset(
    {"id", "attr", "arg", "name", "module", "level", "is_async", "type_comment", "kind", "ctx"}
    | {"conversion", "simple", "tag", "rest", "kwd_attrs", "names"}
)
_CALL_FIELDS: dict[type, tuple[str, ...]] = {}
_OPAQUE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp)
# What gives a call a loop in _calls_with_loop (none of them has a subclass).
_LOOP_CLASSES = frozenset({*_LOOPS, *_COMPREHENSIONS})


def _calls_with_loop(statements: list[ast.stmt]) -> list[tuple[ast.Call, _Loop]]:
    """The calls of a function body (in ``walk_body`` order, nested functions, classes and
    lambdas left out), each with what decides whether it runs in a loop -- worked out on the
    way down instead of climbing the module's parent map from every call."""
    found: list[tuple[ast.Call, _Loop]] = []
    stack: list[tuple[ast.AST, _Loop]] = [(s, None) for s in reversed(statements)]
    node_type = ast.AST
    while stack:
        node, loop = stack.pop()
        if node.__class__ is ast.Call:
            found.append((node, loop))
        elif isinstance(node, _OPAQUE):
            continue
        fields = _CALL_FIELDS.get(node.__class__)
        if fields is None:
            fields = _CALL_FIELDS[node.__class__] = tuple(
                f for f in node._fields if f not in _NO_CALLS
            )
        children: list[ast.AST] = []
        for field in fields:
            value = getattr(node, field, None)
            if value.__class__ is list:
                children.extend(item for item in value if isinstance(item, node_type))
            elif isinstance(value, node_type):
                children.append(value)
        children.reverse()
        if isinstance(node, _LOOPS):
            body = {id(statement) for statement in node.body}
            stack.extend((c, node if id(c) in body else loop) for c in children)
        elif isinstance(node, _COMPREHENSIONS):
            stack.extend((c, c is node.elt) for c in children)
        else:
            stack.extend((c, loop) for c in children)
    return found


def _project_call(node: ast.Call, ctx: PythonContext) -> str | None:
    """The qualified name of a call of a plain name or of an imported module's function
    (``tasks.send_receipt(...)``) that may be the project's."""
    func = node.func
    if isinstance(func, ast.Attribute):
        # ``tasks.send_receipt(...)``: a function of an imported module, not a method.
        root = func.value
        if not isinstance(root, ast.Name) or ctx.resolve_name(root.id) == root.id:
            return None
    elif not isinstance(func, ast.Name):
        return None
    called = ctx.qualname(func)
    if called is None or called.split(".", 1)[0] in _NOT_PROJECT:
        return None
    return _in_module(called, ctx.facts.module)


def _in_module(name: str, module: str) -> str:
    return f"{module}.{name}" if module and "." not in name else name


@project_rule(
    code="PRF009",
    name="task-run-inline-in-loop",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    summary="Background task function called directly in a loop instead of enqueued",
    nodes=(FunctionEnd, ModuleEnd),
    collect=_collect_prf009,
    fix="Enqueue one message per item: `task.delay(item.id)` / `task.send(item.id)` (Dramatiq) "
    "/ `queue.enqueue(task, item.id)`, or a Celery group/chord.",
)
def task_run_inline_in_loop(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a call, inside a loop, of a function of the project (same module or imported) that
    is a background task (`@shared_task`, `@app.task`, `@dramatiq.actor`, `@huey.task`, RQ
    `@job`) called as a plain function -- `send_receipt(order.id)` -- instead of enqueued
    with `.delay()`, `.apply_async()`, `.send()` or `queue.enqueue()`.

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
    tasks: dict[str, str] = {}
    for evidence in project.evidence("PRF009"):
        if evidence.kind == "task":
            tasks[evidence.name] = evidence.name.rsplit(".", 1)[-1]
    if not tasks:
        return
    for evidence in project.evidence("PRF009"):
        if evidence.kind != "inline":
            continue
        task = next(
            (short for name, short in tasks.items() if same_dotted_name(evidence.name, name)), None
        )
        if task is None or task == evidence.text("caller"):
            continue
        ctx.report(
            evidence.path,
            evidence.line,
            f"{task}() is a background task but is called directly inside a loop: each item "
            "runs inline, one after the other, in this process (no worker parallelism, no retry "
            "policy, and the first failure aborts the rest). Enqueue it: "
            f"{task}.delay(...) / .send(...)",
        )


def _per_item(loop: ast.For | ast.AsyncFor | ast.While, ctx: PythonContext) -> bool:
    """The loop runs its body once per item of a collection. A message-consumer loop (``for
    message in consumer``, ``while running: queue.get()``) or an endless ``while True``
    processes one item per turn by design: running the task's body there is the worker's job,
    not a fan-out."""
    endless = isinstance(loop, ast.While) and isinstance(loop.test, ast.Constant)
    return not endless and message_loop(loop, ctx) is None


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
