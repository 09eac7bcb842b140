"""State: background work started inside a request or task and kept only in the process
(STA007)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, FunctionEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import in_task

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
    object, returned) is fine.

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
        where = "request handler" if ctx.route is not None else "task"
        for call, what in found:
            ctx.report(
                call,
                f"{what} in a {where} and nothing waits for it: the work lives only in this "
                "worker process -- a deploy, scale-in or crash stops it half-done with no record "
                "and no retry, and its exception is never seen. Hand it to a job queue "
                "(Celery/RQ/Dramatiq) or wait for it",
            )
        return
    if ctx.route is None and not in_task(ctx):
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
