"""Resilience: unbounded in-process queues (RES009)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from prodready.plugin import Category, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    argument,
    has_star_kwargs,
    in_service_code,
    in_task,
    is_local_name,
    is_none,
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
