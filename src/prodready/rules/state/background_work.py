"""State: background work started inside a request or task and kept only in the process
(STA007)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, FunctionEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import in_task, is_script, is_true, keyword_value, path_role

# -- STA007 ---------------------------------------------------------------------------------------

_THREAD_TYPES = frozenset(
    {"threading.Thread", "threading.Timer", "multiprocessing.Process"}
    | {"multiprocessing.context.Process", "billiard.Process"}
)
_EXECUTOR_TYPES = (
    "concurrent.futures.ThreadPoolExecutor",
    "concurrent.futures.ProcessPoolExecutor",
    "concurrent.futures.thread.ThreadPoolExecutor",
    "concurrent.futures.process.ProcessPoolExecutor",
    "concurrent.futures.Executor",
)
_EXECUTOR_WORDS = ("executor", "pool")


def _thread_type(call: ast.expr, ctx: PythonContext) -> str | None:
    if isinstance(call, ast.Call):
        name = ctx.qualname(call.func)
        if name in _THREAD_TYPES:
            return name.rsplit(".", 1)[-1]
    return None


def _executor(receiver: ast.expr, ctx: PythonContext) -> bool:
    kind = ctx.type_of(receiver) or ctx.qualname(receiver) or ""
    if kind.startswith(_EXECUTOR_TYPES):
        return True
    text = ctx.segment(receiver).lower()
    return any(word in text.rsplit(".", 1)[-1] for word in _EXECUTOR_WORDS)


def _is_name(expr: ast.AST | None, name: str) -> bool:
    return isinstance(expr, ast.Name) and expr.id == name


def _kept(name: str, function: ast.AST, start: ast.AST) -> bool:
    """The thread bound to ``name`` is waited for (``join()``), handed on (returned, stored,
    passed to a call) -- anything but started and dropped."""
    for node in ast.walk(function):
        if node is start:
            continue
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == name
            and node.attr in {"join", "result", "cancel"}
        ):
            return True
        if isinstance(node, ast.Return) and _is_name(node.value, name):
            return True
        if isinstance(node, ast.Call) and any(_is_name(arg, name) for arg in node.args):
            return True
        if (
            isinstance(node, ast.Assign)
            and _is_name(node.value, name)
            and not isinstance(node.targets[0], ast.Name)
        ):
            return True  # self.worker = t / registry[key] = t
    return False


# Functions that start a process's long-lived machinery once (constructors, start-up hooks,
# entry points): a thread they start is infrastructure, not a job of one operation.
_STARTUP_NAMES = re.compile(
    r"^_*(?:__init__|__post_init__|init|start|run|launch|spawn|setup|main|ready|lifespan"
    r"|on_startup|startup|boot|serve|create_app|make_app|configure)",
    re.IGNORECASE,
)


_MACHINERY_WORDS = re.compile(
    r"watch|monitor|heartbeat|keepalive|reap|sweep|flush|poll|listen|consum|supervis",
    re.IGNORECASE,
)


def _per_operation_daemon(node: ast.Call, ctx: PythonContext) -> bool:
    """``threading.Thread(target=job, daemon=True).start()`` dropped in a service-layer
    function that is not a start-up hook, in project code that is not a script or test: a
    job handed to a thread per operation (a dispatch, a notification), as in a handler."""
    scope = ctx.function
    func = node.func
    if scope is None or not isinstance(func, ast.Attribute) or func.attr != "start":
        return False
    thread = func.value
    if _thread_type(thread, ctx) != "Thread" or not isinstance(thread, ast.Call):
        return False
    if not is_true(keyword_value(thread, "daemon")) or _STARTUP_NAMES.match(scope.name):
        return False
    if path_role(ctx.path) is not None or is_script(ctx):
        return False
    if keyword_value(thread, "name") is not None:
        return False  # a named thread is process machinery (a watcher, a flusher), not a job
    target = keyword_value(thread, "target")
    if not isinstance(target, ast.Name | ast.Attribute):
        return False
    return not _MACHINERY_WORDS.search(ctx.segment(target)) and not _loops(target, ctx)


def _loops(target: ast.Name | ast.Attribute, ctx: PythonContext) -> bool:
    """The thread's target (defined in this module) loops until shutdown: a long-running
    worker is RES018's, not a job of one operation."""
    name = target.id if isinstance(target, ast.Name) else target.attr
    for node in ast.walk(ctx.tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return any(isinstance(inner, ast.While) for inner in ast.walk(node))
    return False


@python_rule(
    code="STA007",
    name="fire-and-forget-background-work",
    category=Category.STATE,
    severity=Severity.MEDIUM,
    summary="Thread, process or executor job started by a request handler and never awaited",
    calls=("*.start", "*.submit", "*.map", "*.run_in_executor"),
    nodes=(FunctionEnd,),
    fix="Hand the work to a job queue (Celery, RQ, Dramatiq, arq) that persists it and retries "
    "it, or wait for it before answering.",
)
def fire_and_forget_background_work(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags background work a request handler or a background task starts in its own process
    and then forgets: `threading.Thread(...).start()` / `threading.Timer` /
    `multiprocessing.Process` started and never joined, returned or stored; `executor.submit(...)`
    or `executor.map(...)` whose future is thrown away; `loop.run_in_executor(...)` not
    awaited. asyncio tasks are CON007's; a thread whose handle is kept (joined, stored on an
    object, returned) is fine. In a service-layer function (not a handler, not a start-up hook
    or constructor, in project code that is not a script or test) a dropped
    `threading.Thread(target=job, daemon=True).start()` is flagged too: the daemon flag marks
    work nobody will wait for. Named threads, watchers/flushers/pollers and targets that loop
    until shutdown are process machinery (RES018 judges long-running loops).

    ## Why it breaks production
    The work exists only in the memory of one worker process. A deploy, a scale-in, an
    OOM-kill or the server's max-requests recycling stops it half-way -- an e-mail never
    sent, an export never finished, a webhook never delivered -- with no record that it was
    pending and no retry. Nothing waits for it, so its exception is never seen, and under
    load every request adds a thread until the process runs out of them.

    ## Example
    ```python
    @app.post("/reports")
    def request_report():
        report_id = create_report_row(request.json)
        threading.Thread(target=build_report, args=(report_id,), daemon=True).start()
        return {"id": report_id}, 202
    ```

    ## Use instead
    ```python
    @app.post("/reports")
    def request_report():
        report_id = create_report_row(request.json)
        build_report.delay(report_id)  # a Celery task: persisted in the broker, retried
        return {"id": report_id}, 202
    ```
    """
    scope = ctx.function
    if scope is None or ctx.facts.is_test or ctx.facts.is_example:
        return
    found: list[tuple[ast.AST, str]] = ctx.rule_state(list)
    if not isinstance(node, ast.Call):  # FunctionEnd
        where = (
            "request handler"
            if ctx.route is not None
            else "task"
            if in_task(ctx)
            else f"service function ({scope.name}(), run per operation)"
        )
        for call, what in found:
            ctx.report(
                call,
                f"{what} in a {where} and nothing waits for it: the work lives only in this "
                "worker process -- a deploy, scale-in or crash stops it half-done with no record "
                "and no retry, and its exception is never seen. Hand it to a job queue "
                "(Celery/RQ/Dramatiq) or wait for it",
            )
        return
    if ctx.route is None and not in_task(ctx) and not _per_operation_daemon(node, ctx):
        return
    func = node.func
    if not isinstance(func, ast.Attribute):
        return
    statement = ctx.parent(node)
    discarded = isinstance(statement, ast.Expr)
    if func.attr == "start":
        receiver = func.value
        kind = _thread_type(receiver, ctx)
        if kind is not None and discarded:
            found.append((node, f"a {kind} is started"))
        elif isinstance(receiver, ast.Name) and discarded:
            kind = _thread_type(ctx.value_of(receiver.id) or receiver, ctx)
            if kind is not None and not _kept(receiver.id, scope.node, func):
                found.append((node, f"a {kind} is started"))
    elif func.attr in {"submit", "map"} and discarded and _executor(func.value, ctx):
        found.append((node, f"{ctx.segment(func)}() queues work on an in-process executor"))
    elif func.attr == "run_in_executor" and discarded:
        found.append((node, f"{ctx.segment(func)}() starts work"))
