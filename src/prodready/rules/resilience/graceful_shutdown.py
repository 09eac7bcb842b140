"""Resilience: workers that ignore SIGTERM (RES010, project rule)."""

from __future__ import annotations

import ast

from prodready.plugin import (
    Category,
    Confidence,
    Mark,
    ModuleEnd,
    ProjectContext,
    ProjectFacts,
    PythonContext,
    Severity,
    project_rule,
)
from prodready.plugin.analysis import dotted, message_loop, receive_call, walk_body
from prodready.rules._service import (
    _APP_CALLS,
    _NOT_RUNTIME_DIRS,
    Found,
    _apps,
    _deployed,
    _evidence,
    _imports,
    _in_dirs,
    _marks,
    _Modules,
    _with_django,
)

# -- RES010 -------------------------------------------------------------------------------------

# Worker frameworks that install their own SIGTERM handling (warm shutdown).
_WORKER_FRAMEWORKS = (
    "celery",
    "dramatiq",
    "rq",
    "faust",
    "arq",
    "huey",
    "taskiq",
    "nameko",
    "aiorun",
)
# Web frameworks: a loop in their modules runs inside the server process (uvicorn, gunicorn).
_SERVED_FRAMEWORKS = frozenset(
    {"fastapi", "starlette", "flask", "aiohttp", "sanic", "litestar", "tornado", "falcon"}
    | {"celery"}
)
# Clients whose ``queue.consume(callback)`` registers a callback the event loop runs until the
# process dies (aio-pika, aiormq): the program's consumer loop, though no ``while`` is written.
_CALLBACK_BROKERS = ("aio_pika", "aiormq")
_SIGNAL_INSTALLERS = frozenset(
    {"signal", "add_signal_handler", "open_signal_receiver", "set_signal_handler"}
)


def _consumer_call(call: ast.Call, ctx: PythonContext) -> str | None:
    if ctx.qualname(call.func) == "schedule.run_pending":
        return "schedule.run_pending"
    return receive_call(call, ctx)


def _loop_marks(node: ast.AST, ctx: PythonContext) -> Found | None:
    """A consumer loop that runs until the process dies: ``while True`` around a receive (or a
    ``schedule.run_pending()``), or iteration over a consumer (see ``message_loop``)."""
    if isinstance(node, ast.While):
        test = node.test
        if not (isinstance(test, ast.Constant) and test.value in (True, 1)):
            return None
        for call in walk_body(node.body):
            if isinstance(call, ast.Call):
                name = _consumer_call(call, ctx)
                if name is not None:
                    return [Mark.of("loop", node.lineno, call=name)]
        return None
    if isinstance(node, ast.For | ast.AsyncFor):
        consumed = message_loop(node, ctx)
        if consumed is not None:
            return [Mark.of("loop", node.lineno, call=consumed)]
    return None


def _process_marks(module: ast.Module, ctx: PythonContext) -> Found | None:
    """Whether the module starts a process (``__main__``), and whether it handles SIGTERM."""
    found: Found = []
    if (
        ctx.facts.has_main_guard
        or ctx.path.endswith("__main__.py")
        or any(_runs_main(statement) for statement in module.body)
    ):
        found.append(Mark.of("entry", 1))
    source = ctx.source
    if "SIGTERM" in source:
        for node in ast.walk(module):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            method = func.attr if isinstance(func, ast.Attribute) else dotted(func) or ""
            if method.rsplit(".", 1)[-1] not in _SIGNAL_INSTALLERS or not node.args:
                continue
            first = node.args[0]
            # signal.signal(signal.SIGTERM, ...), or a variable (a loop over signals that
            # include SIGTERM: the module names it) -- not signal.signal(SIGINT, ...)
            named = first.id if isinstance(first, ast.Name) else None
            if "SIGTERM" in ast.dump(first) or (named is not None and not named.startswith("SIG")):
                found.append(Mark.of("sigterm", node.lineno))
                break
    return found


def _runs_main(statement: ast.stmt) -> bool:
    """A top-level ``asyncio.run(main())``, ``main()``, ``channel.start_consuming()`` or loop:
    the module is run as a program."""
    if isinstance(statement, ast.While | ast.For | ast.AsyncFor):
        return True
    if not isinstance(statement, ast.Expr) or not isinstance(statement.value, ast.Call):
        return False
    name = dotted(statement.value.func) or ""
    return name in _MAIN_CALLS or name.rsplit(".", 1)[-1] in _BLOCKING_RUNS


_MAIN_CALLS = frozenset({"main", "asyncio.run", "anyio.run", "trio.run", "run"})
_BLOCKING_RUNS = frozenset(
    {"start_consuming", "run_forever", "run_until_complete", "serve_forever"}
)


def _collect_res010(node: ast.AST, ctx: PythonContext) -> Found | None:
    if isinstance(node, ast.Module):
        return _process_marks(node, ctx)
    return _loop_marks(node, ctx)


@project_rule(
    nodes=(
        ast.While,
        ast.For,
        ast.AsyncFor,
        ModuleEnd,
    ),
    collect=_with_django(_collect_res010),
    code="RES010",
    name="worker-without-sigterm-handling",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Long-running consumer loop in a process that never handles SIGTERM",
    calls=(*_APP_CALLS, "*.start_consuming", "*.consume"),
    fix="Install a SIGTERM handler that stops the loop, then ack/commit and close the consumer.",
)
def worker_without_sigterm_handling(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a long-running worker loop -- a `while True:` loop that polls a broker
    (`consumer.poll()`, `redis.blpop()`, `sqs.receive_message()`, `schedule.run_pending()`),
    iterating a `KafkaConsumer` / `AIOKafkaConsumer`, pika's `start_consuming()`, aio-pika's
    `queue.consume(callback)` -- in a
    project that never installs a SIGTERM handler (`signal.signal(signal.SIGTERM, ...)`,
    `loop.add_signal_handler(signal.SIGTERM, ...)`). The loop must run as a program of its own
    (a `__main__` module, or a project shipped with a Dockerfile / manifest). Loops inside web
    apps served by uvicorn/gunicorn and in Celery, Dramatiq, RQ, Faust, arq or huey workers
    are left alone: those servers handle SIGTERM.

    ## Why it breaks production
    Kubernetes, ECS and systemd stop a container with SIGTERM, then SIGKILL after the grace
    period. Python's default SIGTERM action kills the process on the spot: the message being
    processed is half done, its offset or ack was never committed, so it is processed again
    by the next consumer (double charge, duplicate email) -- or, with auto-commit, lost. Every
    deploy and every node drain does this.

    ## Example
    ```python
    consumer = Consumer(config)
    consumer.subscribe(["orders"])
    while True:
        msg = consumer.poll(1.0)
        if msg is not None:
            handle(msg)
            consumer.commit(msg)
    ```

    ## Use instead
    ```python
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    consumer = Consumer(config)
    consumer.subscribe(["orders"])
    while not stopping.is_set():
        msg = consumer.poll(1.0)
        if msg is not None:
            handle(msg)
            consumer.commit(msg)
    consumer.close()  # leave the group cleanly: partitions are reassigned at once
    ```
    """
    evidence = _evidence(project, "RES010")
    if _marks(evidence, "sigterm"):
        return
    loops = [
        item
        for item in evidence
        if (
            _marks([item], "loop")
            or item.name.endswith(".start_consuming")
            or (item.name.endswith(".consume") and _imports(project, item.path, _CALLBACK_BROKERS))
        )
        and not _in_dirs(item.path, _NOT_RUNTIME_DIRS)
    ]
    if not loops:
        return
    modules = _Modules(project)
    served: set[str] = set()
    for app in _apps(project, "RES010"):
        if app.kind != "Django":  # Django's runserver/gunicorn do not run management commands
            served |= modules.component(app.path)
    entries = {item.path for item in _marks(evidence, "entry")}
    deployed = _deployed(project)
    reported: set[str] = set()
    # Per module, a loop a collector marked before a subscribed call.
    for item in sorted(loops, key=lambda e: (e.path, e.kind == "", e.line)):
        if item.path in reported or item.path in served:
            continue
        if _SERVED_FRAMEWORKS.intersection(project.modules[item.path].frameworks):
            continue
        if _imports(project, item.path, _WORKER_FRAMEWORKS):
            continue
        command = "/management/commands/" in f"/{item.path}"
        if not (deployed or command or modules.importers(item.path) & entries):
            continue  # library code: nothing says this loop runs as a process
        reported.add(item.path)
        ctx.report(
            item.path,
            item.line,
            "this consumer loop runs in a process that never handles SIGTERM: on every deploy "
            "or node drain the orchestrator's SIGTERM kills it mid-message, so the message is "
            "redelivered (processed twice) or lost. Install a SIGTERM handler that stops the "
            "loop, then ack/commit and close the consumer before exiting",
        )
