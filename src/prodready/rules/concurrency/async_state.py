"""Concurrency: shared state awaited between read and write, and tasks kept without a reference
(CON006, CON007)."""

from __future__ import annotations

import ast
import re
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
from prodready.plugin.analysis import dotted, is_framework_source, is_script
from prodready.rules.concurrency._self_logging import logs_own_failures

# -- CON006 ---------------------------------------------------------------------------------------

_LOCK_WORDS = ("lock", "mutex", "semaphore", "condition")


@dataclass(slots=True)
class _SharedWrite:
    node: ast.stmt
    key: str
    read_line: int
    read_step: int | None  # None: read, await and write are one statement
    step: int


@dataclass(slots=True)
class _AwaitState:
    step: int = 0  # order of the events seen in the function
    awaits: list[tuple[int, int]] = field(default_factory=list)  # (step, line)
    reads: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # local -> key, step, line
    writes: list[_SharedWrite] = field(default_factory=list)
    locks: list[tuple[int, int]] = field(default_factory=list)  # line ranges under a lock


def _shared_key(expr: ast.expr, ctx: PythonContext) -> str | None:
    """A text key for shared state: ``STATE[k]``, ``STATE.get(k)``, a ``global`` name,
    ``self.attr`` and ``self.attr[k]`` (None for anything else)."""
    scope = ctx.function
    assert scope is not None
    if isinstance(expr, ast.Call):
        func = expr.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "get"
            and expr.args
            and not isinstance(expr.args[0], ast.Starred)
        ):
            container = _shared_key(func.value, ctx)
            if container is None or "[" in container:
                return None
            return f"{container}[{ast.dump(expr.args[0])}]"
        return None
    if isinstance(expr, ast.Subscript):
        container = _shared_key(expr.value, ctx)
        if container is None or "[" in container:
            return None
        return f"{container}[{ast.dump(expr.slice)}]"
    if isinstance(expr, ast.Name):
        if expr.id in scope.globals or ctx.is_module_state(expr.id):
            return expr.id
        return None
    if (
        isinstance(expr, ast.Attribute)
        and isinstance(expr.value, ast.Name)
        and expr.value.id == scope.self_name
        and expr.value.id is not None
        and not expr.attr.isupper()
    ):
        return f"self.{expr.attr}"
    return None


def _contains_await(expr: ast.AST) -> bool:
    return any(isinstance(node, ast.Await) for node in ast.walk(expr))


def _reads_key(expr: ast.AST, key: str, ctx: PythonContext) -> bool:
    for node in ast.walk(expr):
        if isinstance(node, ast.Subscript | ast.Name | ast.Attribute | ast.Call) and (
            _shared_key(node, ctx) == key if not isinstance(node, ast.Name) else node.id == key
        ):
            return True
    return False


@python_rule(
    code="CON006",
    name="await-between-read-and-write-of-shared-state",
    category=Category.CONCURRENCY,
    severity=Severity.HIGH,
    summary="Shared state read, then an await, then written back: coroutines lose updates",
    nodes=(ast.Await, ast.Assign, ast.AugAssign, ast.With, ast.AsyncWith, FunctionEnd),
    fix="Hold an asyncio.Lock across the read, the await and the write (async with lock:), or "
    "re-read and update in one step after the await.",
)
def await_between_read_and_write(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `async def` functions that read a shared value -- an entry of a module-level
    container (`BALANCES[user]`, `STOCK.get(sku)`), a `global` name, or an attribute of
    `self` -- then `await` something, then write the value back computed from what they read
    (`BALANCES[user] = balance - amount`, `TOTALS[day] += await fetch()`), without holding an
    `asyncio.Lock` (`async with lock:`) across the three steps.

    ## Why it breaks production
    Coroutines on one event loop interleave at every `await`. Two requests for the same user
    both read the balance 100, both await the payment provider, both write `100 - 30`: one
    debit is lost. The code is correct in every test with one request at a time and loses
    updates under real concurrent traffic -- exactly where nobody looks for it.

    ## Example
    ```python
    async def withdraw(user_id: int, amount: int) -> None:
        balance = BALANCES[user_id]
        await payments.charge(user_id, amount)
        BALANCES[user_id] = balance - amount
    ```

    ## Use instead
    ```python
    balance_lock = asyncio.Lock()

    async def withdraw(user_id: int, amount: int) -> None:
        async with balance_lock:
            balance = BALANCES[user_id]
            await payments.charge(user_id, amount)
            BALANCES[user_id] = balance - amount
    ```
    Across several workers or replicas only the database (an atomic UPDATE, a row lock) or
    Redis (INCRBY, a Lua script) can make the update atomic.
    """
    scope = ctx.function
    if scope is None or not scope.is_async or ctx.facts.is_test:
        return
    state: _AwaitState = ctx.rule_state(_AwaitState)
    state.step += 1
    if isinstance(node, ast.Await):
        state.awaits.append((state.step, node.lineno))
        return
    if isinstance(node, ast.With | ast.AsyncWith):
        for item in node.items:
            text = ast.unparse(item.context_expr).lower()
            if any(word in text for word in _LOCK_WORDS):
                state.locks.append((node.lineno, node.end_lineno or node.lineno))
        return
    if isinstance(node, ast.AugAssign):
        key = _shared_key(node.target, ctx)
        if key is not None and not key.startswith("self.") and _contains_await(node.value):
            # The target's value is loaded before the awaited operand is evaluated.
            state.writes.append(_SharedWrite(node, key, node.lineno, None, state.step))
        return
    if isinstance(node, ast.Assign):
        _await_assign(node, ctx, state)
        return
    # FunctionEnd
    if not state.writes:
        return
    lines = ctx.lines[scope.node.lineno - 1 : scope.node.end_lineno]
    if any(".acquire(" in line for line in lines):
        return
    reported: set[str] = set()
    for write in state.writes:
        if write.key in reported or _locked(state, write.read_line, write.node.lineno):
            continue
        if write.read_step is None:
            inner = [n.lineno for n in ast.walk(write.node) if isinstance(n, ast.Await)]
        else:
            low, high = write.read_step, write.step
            inner = [line for at, line in state.awaits if low < at < high]
        if not inner:
            continue
        reported.add(write.key)
        key = write.key
        shown = key.split("[", 1)[0] + ("[...]" if "[" in key else "")
        ctx.report(
            write.node,
            f"{shown} is read (line {write.read_line}), the coroutine awaits (line {inner[0]}) "
            "and then writes it back from the stale value: a concurrent request changing it "
            "in between is lost. Hold an asyncio.Lock across the read, the await and the write",
            # An instance may belong to one request; module state is shared by all of them.
            confidence=Confidence.MEDIUM if key.startswith("self.") else None,
        )


def _locked(state: _AwaitState, first: int, last: int) -> bool:
    return any(start <= first and last <= end for start, end in state.locks)


def _await_assign(node: ast.Assign, ctx: PythonContext, state: _AwaitState) -> None:
    if len(node.targets) != 1:
        return
    target = node.targets[0]
    value = node.value
    if isinstance(target, ast.Name) and _shared_key(target, ctx) is None:
        key = _shared_key(value, ctx)
        if key is not None:
            state.reads[target.id] = (key, state.step, node.lineno)
        else:
            state.reads.pop(target.id, None)
        return
    key = _shared_key(target, ctx)
    if key is None:
        return
    used = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
    for name, (read_key, at, line) in state.reads.items():
        if read_key == key and name in used:
            state.writes.append(_SharedWrite(node, key, line, at, state.step))
            return
    if not key.startswith("self.") and _contains_await(value) and _reads_key(value, key, ctx):
        state.writes.append(_SharedWrite(node, key, node.lineno, None, state.step))


# -- CON007 ---------------------------------------------------------------------------------------

_TASK_FACTORIES = frozenset(
    {"asyncio.create_task", "asyncio.ensure_future", "asyncio.tasks.create_task"}
    | {"asyncio.tasks.ensure_future"}
)
_LOOP_FACTORIES = frozenset(
    {"asyncio.get_event_loop", "asyncio.get_running_loop", "asyncio.new_event_loop"}
    | {"asyncio.events.get_event_loop", "asyncio.events.get_running_loop"}
    | {"asyncio.AbstractEventLoop", "asyncio.events.AbstractEventLoop"}
)


_RUFF_DANGLING_TASK = re.compile(r"#\s*noqa\s*:[^#]*\bRUF006\b", re.IGNORECASE)


def _ruff_waived(call: ast.Call, ctx: PythonContext) -> bool:
    """The call's last line carries ``# noqa: RUF006``: Ruff's asyncio-dangling-task check --
    this rule's defect -- waived on purpose by the code's author."""
    lines = ctx.source.splitlines()
    last = (call.end_lineno or call.lineno) - 1
    return 0 <= last < len(lines) and bool(_RUFF_DANGLING_TASK.search(lines[last]))


def _spawned_task(call: ast.AST, ctx: PythonContext) -> str | None:
    """``asyncio.create_task(coro)`` / ``asyncio.ensure_future(coro())`` /
    ``loop.create_task(coro)``: what spawns the task, or None. A ``TaskGroup``'s
    ``create_task`` keeps its tasks; ``ensure_future`` of an existing future creates none."""
    if not isinstance(call, ast.Call) or not call.args:
        return None
    func = call.func
    name = ctx.qualname(func) or ""
    method = func.attr if isinstance(func, ast.Attribute) else name.rsplit(".", 1)[-1]
    if method not in {"create_task", "ensure_future"}:
        return None
    if method == "ensure_future" and not isinstance(call.args[0], ast.Call):
        return None
    if name in _TASK_FACTORIES:
        return f"{name}()"
    if not isinstance(func, ast.Attribute) or method != "create_task":
        return None
    receiver = ctx.qualname(func.value) or ""
    text = dotted(func.value) or ""
    if receiver in _LOOP_FACTORIES or text.rsplit(".", 1)[-1].lower().endswith("loop"):
        return f"{text or 'loop'}.create_task()"
    return None


@python_rule(
    code="CON007",
    name="task-without-reference",
    category=Category.CONCURRENCY,
    severity=Severity.MEDIUM,
    summary="Fire-and-forget asyncio task with no reference: may be garbage-collected mid-run",
    nodes=(ast.Expr, ast.Assign, ModuleEnd),
    fix="Keep a strong reference until the task is done (tasks.add(t); "
    "t.add_done_callback(tasks.discard)) or run it in an asyncio.TaskGroup.",
)
def task_without_reference(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `asyncio.create_task(...)`, `asyncio.ensure_future(coro())` and
    `loop.create_task(...)` calls whose result is thrown away (a bare expression statement or
    an assignment to `_`) in code that runs in a service or worker -- not in tests, scripts or
    a framework's own source. Tasks created by an `asyncio.TaskGroup` are not flagged.
    Evidence tier: when the spawned coroutine (a function of the module) catches and logs its
    own failures -- every call but `asyncio.sleep` inside a `try` whose broad handler logs --
    no exception goes unretrieved, and the finding drops to low with low confidence: the rule
    cannot tell whether losing such a task mid-run matters. A call whose line waives Ruff's
    check for the same defect (`# noqa: RUF006`, asyncio-dangling-task) is a fire-and-forget
    its author chose: low, confidence low, and the message says so.

    ## Why it breaks production
    The event loop holds only a weak reference to the tasks it runs. A task nobody else
    references can be garbage-collected while it is still waiting, so the background work
    (cache refresh, webhook delivery, audit write) silently stops half-way -- more often under
    memory pressure, which is when it matters. And since nobody awaits it, an exception in the
    task is never retrieved: at best a "Task exception was never retrieved" line appears when
    it is collected, with no request context, and no retry or alert ever happens.

    ## Example
    ```python
    async def refresh(request):
        symbols = await request.json()
        asyncio.create_task(refresh_quotes(symbols))
        return web.json_response({"status": "refreshing"}, status=202)
    ```

    ## Use instead
    ```python
    background_tasks: set[asyncio.Task] = set()

    def spawn(coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        background_tasks.add(task)
        task.add_done_callback(background_tasks.discard)
        task.add_done_callback(log_task_failure)  # calls task.exception() and logs it
        return task
    ```
    Or, when the caller can wait, `async with asyncio.TaskGroup() as tg: tg.create_task(...)`;
    for work that must survive a restart, a job queue.
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    found: list[tuple[ast.Call, str]] = ctx.rule_state(list, module=True)
    if isinstance(node, ast.Expr):
        value = node.value
    elif isinstance(node, ast.Assign):
        targets = node.targets
        if not (len(targets) == 1 and isinstance(targets[0], ast.Name) and targets[0].id == "_"):
            return
        value = node.value
    else:  # ModuleEnd
        if not found or is_script(ctx) or is_framework_source(ctx):
            return
        for call, what in found:
            if _ruff_waived(call, ctx):
                ctx.report(
                    call,
                    f"the task {what} creates is not kept anywhere, and the line waives Ruff's "
                    "check for exactly this (noqa: RUF006, asyncio-dangling-task): a "
                    "fire-and-forget its author chose -- reported low. The event loop still "
                    "holds only a weak reference to it; keep one (a set plus "
                    "add_done_callback(set.discard)) if losing it mid-run matters",
                    severity=Severity.LOW,
                    confidence=Confidence.LOW,
                )
                continue
            if logs_own_failures(call, ctx):
                ctx.report(
                    call,
                    f"the task {what} creates is not kept anywhere: the event loop holds only "
                    "a weak reference, so it can be garbage-collected before it finishes. Its "
                    "coroutine logs its own failures; prodready could not tell whether losing "
                    "it mid-run matters. Keep a reference until it is done (a set plus "
                    "add_done_callback(set.discard)) or run it in an asyncio.TaskGroup",
                    severity=Severity.LOW,
                    confidence=Confidence.LOW,
                )
                continue
            ctx.report(
                call,
                f"the task {what} creates is not kept anywhere: the event loop holds only a "
                "weak reference, so it can be garbage-collected before it finishes, and its "
                "exception is never retrieved. Keep a reference until it is done (a set plus "
                "add_done_callback(set.discard)) or run it in an asyncio.TaskGroup",
            )
        return
    spawner = _spawned_task(value, ctx)
    if spawner is not None:
        assert isinstance(value, ast.Call)
        found.append((value, spawner))
