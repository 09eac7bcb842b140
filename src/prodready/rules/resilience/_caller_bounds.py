"""Resilience: deadlines a caller puts around a coroutine (the facts that make RES001 findings
inside it moot), and long-lived streams read in a reconnect loop."""

from __future__ import annotations

import ast

from prodready.plugin import ModuleMemo, ProjectFact, PythonContext
from prodready.plugin.analysis import (
    argument,
    bounded_fact,
    caller_bounded,
    inherited_facts,
    is_none,
    is_script,
    job_limited_fact,
    unbounded_fact,
    walk_nodes,
)

# ``async with <one of these>(seconds):`` cancels what its body awaits after the deadline.
_DEADLINE_MANAGERS = frozenset(
    {
        "asyncio.timeout",
        "asyncio.timeout_at",
        "async_timeout.timeout",
        "anyio.fail_after",
        "anyio.move_on_after",
        "trio.fail_after",
        "trio.move_on_after",
        "trio.fail_at",
        "trio.move_on_at",
    }
)
_WAIT_FOR = frozenset({"asyncio.wait_for"})
_TASK_FACTORIES = frozenset({"create_task", "ensure_future"})
_FACT_SUMMARY = "awaited under a caller's deadline"
# Keywords of a job decorator giving the hard limit the worker kills the job at: Celery's and
# Dramatiq's ``time_limit`` (Celery's ``soft_time_limit`` raises in the task), RQ's ``timeout``
# on ``@job(queue, timeout=30)`` (``job_timeout`` in newer RQ).
_JOB_LIMITS = frozenset({"time_limit", "soft_time_limit"})
_RQ_LIMITS = frozenset({"timeout", "job_timeout"})
_JOB_DECORATORS = frozenset({"job", "task", "shared_task", "actor"})


def callee_key(call: ast.Call, ctx: PythonContext) -> str | None:
    """How callers and callee both name a coroutine: ``pkg.mod.func`` for a function (through
    the module's imports), ``.method`` for a method called on a value (its class unknown)."""
    func = call.func
    if isinstance(func, ast.Name):
        bound = ctx.facts.bindings.get(func.id)
        if isinstance(bound, str):
            return bound
        if ctx.resolve_name(func.id).startswith("builtins."):
            return None  # len(), print(): never the project's
        return f"{ctx.module}.{func.id}"
    if not isinstance(func, ast.Attribute):
        return None
    root: ast.expr = func
    while isinstance(root, ast.Attribute):
        root = root.value
    if isinstance(root, ast.Name) and isinstance(ctx.facts.bindings.get(root.id), str):
        return ctx.qualname(func)  # a function of an imported module
    return f".{func.attr}"


def own_key(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> str:
    """The key callers name the coroutine ``function`` by."""
    scope = ctx.function
    if scope is not None and scope.node is function:
        # The walk's own answer: a method is a statement of its class's body (the class is
        # the innermost one walked), so no parent map of the module is built for it.
        in_class = scope.class_info is not None
    else:
        in_class = isinstance(ctx.parent(function), ast.ClassDef)
    if in_class:
        return f".{function.name}"
    return f"{ctx.module}.{function.name}"


def job_time_limit(function: ast.AST) -> str | None:
    """The hard time limit of a background job ``function`` is (``time_limit=300``), as
    written; None when it has none (or ``-1``/``None``: no limit)."""
    if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    for decorator in function.decorator_list:
        if not isinstance(decorator, ast.Call):
            continue
        callee = decorator.func
        name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
        for keyword in decorator.keywords:
            limit = keyword.value
            if (
                keyword.arg in _JOB_LIMITS
                or (keyword.arg in _RQ_LIMITS and name in _JOB_DECORATORS)
            ) and not _no_limit(limit):
                return f"{keyword.arg}={ast.unparse(limit)}"
    return None


def _no_limit(value: ast.expr) -> bool:
    if is_none(value):
        return True
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
        return True  # RQ's -1: never killed
    return isinstance(value, ast.Constant) and value.value in (0, False)


def record_caller_bounds(
    function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> None:
    """State, for each call ``function`` makes (awaits, runs as a task), whether a deadline
    or a job's time limit is around it. A command-line tool's calls state nothing: they wait
    in the operator's terminal, not in a service worker, as the calls of a script's file do
    (only service files' facts count)."""
    if is_script(ctx):
        return
    bounded_tasks = (
        _tasks_waited_for(function, ctx)
        if isinstance(function, ast.AsyncFunctionDef) and ctx.memo(_BOUNDING_NAMED)
        else set()
    )
    private = function.name.startswith("_") and not function.name.startswith("__")
    in_limited_job = job_time_limit(function) is not None
    caller = own_key(function, ctx)
    for call, under_deadline in _own_calls(function, ctx):
        key = callee_key(call, ctx)
        if key is None or key == caller or not _may_be_project(key, ctx):
            continue
        if under_deadline or id(call) in bounded_tasks:
            ctx.establish(ProjectFact(bounded_fact(key), _FACT_SUMMARY))
        elif in_limited_job:
            ctx.establish(ProjectFact(job_limited_fact(key), _FACT_SUMMARY))
        elif private:
            for fact in inherited_facts(key, caller):
                ctx.establish(ProjectFact(fact, _FACT_SUMMARY))
        else:
            ctx.establish(ProjectFact(unbounded_fact(key), _FACT_SUMMARY))


def _may_be_project(key: str, ctx: PythonContext) -> bool:
    """A method (``.name``), or a function of a module of the project's packages (the facts
    are kept for what the project may define: not ``requests.get``)."""
    return key.startswith(".") or key.split(".", 1)[0] in ctx.module.split(".")


def bounded_by_callers_fact(node: ast.AST, ctx: PythonContext) -> tuple[ProjectFact, ...]:
    """The fact that makes a finding at ``node`` moot (every caller of its coroutine awaits it
    under a deadline) or low (every caller runs it in a job with a time limit)."""
    function = ctx.function.node if ctx.function is not None else None
    if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
        return ()
    coroutine = isinstance(function, ast.AsyncFunctionDef)
    return (ProjectFact(caller_bounded(own_key(function, ctx), coroutine), _FACT_SUMMARY),)


def in_reconnect_loop(node: ast.AST, ctx: PythonContext) -> bool:
    """``node`` sits in a ``while`` loop of its function (the loop that reopens a stream)."""
    parent = ctx.parent(node)
    while parent is not None and not isinstance(
        parent, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.Module
    ):
        if isinstance(parent, ast.While):
            return True
        parent = ctx.parent(parent)
    return False


def _has_deadline(call: ast.Call, position: int, name: str) -> bool:
    value = argument(call, position, name)
    return value is not None and not is_none(value)


def _own_calls(
    function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> list[tuple[ast.Call, bool]]:
    """The calls the function's own body makes (for a wrapper, ``wait_for(f(), 5)`` or
    ``create_task(f())``: the call it wraps), each with whether a deadline is around it."""
    if not ctx.memo(_BOUNDING_NAMED):
        # Nothing in the module can bound or wrap a call: every call is its own target,
        # unbounded -- read from the function's shared node list, less its nested functions.
        nodes = walk_nodes(function)
        nested = {
            id(inner)
            for node in nodes
            if node is not function and isinstance(node, _NESTED)
            for inner in walk_nodes(node)
        }
        return [
            (node, False) for node in nodes if node.__class__ is ast.Call and id(node) not in nested
        ]
    found: list[tuple[ast.Call, bool]] = []
    _walk_calls(function, False, ctx, found)
    return found


_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
# Every name a deadline manager, ``wait_for`` or a task factory is called by contains one of
# these: a module without them has no bounded call, and its functions need no nesting walk.
_BOUNDING_WORDS = ("create_task", "ensure_future", "wait_for", "timeout", "fail_a", "move_on_a")
_BOUNDING_NAMED: ModuleMemo[bool] = ModuleMemo(
    "RES001:bounding-named", lambda ctx: any(word in ctx.source for word in _BOUNDING_WORDS)
)


def _walk_calls(
    node: ast.AST, bounded: bool, ctx: PythonContext, found: list[tuple[ast.Call, bool]]
) -> None:
    # A module-level function, not a closure over itself: a recursive closure is a reference
    # cycle that keeps the context, and with it the module's tree, alive until the cyclic
    # garbage collector runs (tests/engine/test_tree_freed.py).
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        inner = bounded
        if isinstance(child, ast.AsyncWith | ast.With) and any(
            isinstance(item.context_expr, ast.Call)
            and ctx.qualname(item.context_expr.func) in _DEADLINE_MANAGERS
            and _has_deadline(item.context_expr, 0, "delay")
            for item in child.items
        ):
            inner = True
        if isinstance(child, ast.Call):
            target = _awaited_target(child, ctx)
            if target is not None:
                found.append((target[0], bounded or target[1]))
            elif not _is_wrapped(child, ctx):
                found.append((child, False))
        _walk_calls(child, inner, ctx, found)


def _awaited_target(call: ast.Call, ctx: PythonContext) -> tuple[ast.Call, bool] | None:
    """``await f()`` -> (f(), False); ``wait_for(f(), 5)`` -> (f(), True); ``create_task(f())``
    -> (f(), False) (its task may be waited for: :func:`_tasks_waited_for`)."""
    parent = ctx.parent(call)
    if isinstance(parent, ast.Await) and not _is_wrapper(call, ctx):
        return call, False
    if _is_wrapper(call, ctx) and call.args and isinstance(call.args[0], ast.Call):
        if ctx.qualname(call.func) in _WAIT_FOR:
            return call.args[0], _has_deadline(call, 1, "timeout")
        return call.args[0], False
    return None


def _is_wrapped(call: ast.Call, ctx: PythonContext) -> bool:
    """The call ``wait_for``/``create_task`` wraps (recorded with its wrapper)."""
    parent = ctx.parent(call)
    return (
        isinstance(parent, ast.Call)
        and _is_wrapper(parent, ctx)
        and bool(parent.args)
        and parent.args[0] is call
    )


def _is_wrapper(call: ast.Call, ctx: PythonContext) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in _TASK_FACTORIES or ctx.qualname(func) in _WAIT_FOR


def _tasks_waited_for(function: ast.AsyncFunctionDef, ctx: PythonContext) -> set[int]:
    """The calls run as tasks (``task = create_task(f())``) whose task the coroutine then
    waits for with a deadline (``await asyncio.wait_for(task, timeout=30)``)."""
    tasks: dict[str, ast.Call] = {}
    waited: set[str] = set()
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Call)
            and _is_wrapper(node.value, ctx)
            and ctx.qualname(node.value.func) not in _WAIT_FOR
            and node.value.args
            and isinstance(node.value.args[0], ast.Call)
        ):
            tasks[node.targets[0].id] = node.value.args[0]
        elif (
            isinstance(node, ast.Call)
            and ctx.qualname(node.func) in _WAIT_FOR
            and node.args
            and isinstance(node.args[0], ast.Name)
            and _has_deadline(node, 1, "timeout")
        ):
            waited.add(node.args[0].id)
    return {id(call) for name, call in tasks.items() if name in waited}
