"""State: a job scheduler started inside the web application's processes (STA011)."""

from __future__ import annotations

import ast

from prodready.plugin import (
    Category,
    Confidence,
    ModuleEnd,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import is_script, keyword_value

# -- STA011 ---------------------------------------------------------------------------------------

# Schedulers that run their jobs on a thread or on the event loop of the process that starts
# them (a BlockingScheduler owns its process: it is what a dedicated scheduler runs).
_IN_PROCESS_SCHEDULERS = frozenset(
    {
        "apscheduler.schedulers.background.BackgroundScheduler",
        "apscheduler.schedulers.asyncio.AsyncIOScheduler",
        "apscheduler.schedulers.gevent.GeventScheduler",
        "apscheduler.schedulers.tornado.TornadoScheduler",
        "apscheduler.schedulers.twisted.TwistedScheduler",
        "apscheduler.schedulers.qt.QtScheduler",
        "apscheduler.AsyncScheduler",
        "apscheduler.Scheduler",
        "flask_apscheduler.APScheduler",
        "flask_apscheduler.scheduler.APScheduler",
    }
)
_WEB_FRAMEWORKS = frozenset(
    {"flask", "fastapi", "starlette", "django", "aiohttp", "quart", "sanic", "litestar"}
)


def _scheduler_type(receiver: ast.expr, ctx: PythonContext) -> str | None:
    if isinstance(receiver, ast.Call):
        name = ctx.qualname(receiver.func)
    elif isinstance(receiver, ast.Name):
        value = ctx.value_of(receiver.id)
        name = ctx.qualname(value.func) if isinstance(value, ast.Call) else None
        name = name or ctx.type_of(receiver)
    else:
        name = ctx.type_of(receiver)
    return name if name in _IN_PROCESS_SCHEDULERS else None


def _schedule_loop_thread(receiver: ast.expr, ctx: PythonContext) -> bool:
    """``threading.Thread(target=run_jobs).start()`` where ``run_jobs`` (defined in the module)
    loops over the ``schedule`` library's ``run_pending()``."""
    if isinstance(receiver, ast.Name):
        value = ctx.value_of(receiver.id)
        receiver = value if value is not None else receiver
    if not isinstance(receiver, ast.Call) or ctx.qualname(receiver.func) != "threading.Thread":
        return False
    target = keyword_value(receiver, "target")
    if not isinstance(target, ast.Name) or not ctx.facts.imports_any({"schedule"}):
        return False
    for node in ctx.tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == target.id:
            return "run_pending(" in ast.unparse(node)
    return False


def _switched(node: ast.AST, ctx: PythonContext) -> bool:
    """The start is under an ``if`` -- an environment switch (``if os.environ.get("RUN_JOBS")``),
    a lock or leader check, a ``__main__`` block: someone chose which process runs the jobs."""
    current = ctx.parent(node)
    while current is not None and not isinstance(current, ast.Module):
        if isinstance(current, ast.If | ast.IfExp):
            return True
        current = ctx.parent(current)
    return False


@python_rule(
    code="STA011",
    name="scheduler-in-web-workers",
    category=Category.DEPLOYMENT,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="In-process job scheduler started by the web app: every worker and replica runs jobs",
    calls=("*.start",),
    nodes=(ModuleEnd,),
    fix="Run the scheduler as its own single-replica process (python -m app.scheduler with a "
    "BlockingScheduler, Celery beat, a Kubernetes CronJob), or guard the start with a switch "
    "or a lock that exactly one process holds.",
)
def scheduler_in_web_workers(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags an in-process job scheduler -- APScheduler's `BackgroundScheduler`,
    `AsyncIOScheduler` (and the gevent/tornado/twisted variants), APScheduler 4's
    `Scheduler`/`AsyncScheduler`, Flask-APScheduler, a thread looping over the `schedule`
    library's `run_pending()` -- started by a module of a web
    application (Flask, FastAPI, Starlette, Django, aiohttp...): at import, in the app factory,
    in a startup hook or `AppConfig.ready()`. A start under an `if` (an environment switch, a
    lock or leader check, a `__main__` block) and a `BlockingScheduler` in its own process are
    left alone.

    ## Why it breaks production
    A web application runs as several processes: gunicorn or uvicorn workers (`-w 4`), and
    several replicas behind the load balancer. Each process imports the module or calls the
    factory, so each starts its own scheduler and runs every job: the nightly expiry, the
    invoice run or the reminder e-mail happens once per worker per replica -- points expired
    four times, customers billed or mailed twice. Scaling out multiplies it, and a worker
    recycled by `max_requests` restarts the schedule mid-run.

    ## Example
    ```python
    scheduler = BackgroundScheduler()

    def create_app():
        app = Flask(__name__)
        scheduler.add_job(send_reminders, "cron", hour=8)
        scheduler.start()
        return app
    ```

    ## Use instead
    ```python
    # scheduler.py -- deployed as one single-replica process
    def main():
        scheduler = BlockingScheduler()
        scheduler.add_job(send_reminders, "cron", hour=8)
        scheduler.start()
    ```
    Or schedule with Celery beat / a Kubernetes CronJob, whose one schedule enqueues the job.
    """
    found: list[ast.Call] = ctx.rule_state(list, module=True)
    if isinstance(node, ast.Module):  # ModuleEnd: the module's framework imports are known
        if not found or not (ctx.facts.frameworks & _WEB_FRAMEWORKS or ctx.facts.routes):
            return
        if is_script(ctx):
            return
        for call in found:
            ctx.report(
                call,
                f"{ctx.segment(call.func)}() starts an in-process job scheduler inside the web "
                "application: every worker process and every replica runs its own copy, so each "
                "job runs once per worker (gunicorn -w N, uvicorn --workers, replicas) -- "
                "duplicate charges, e-mails, expiries. Run the scheduler as one dedicated "
                "process (or Celery beat / a CronJob)",
            )
        return
    if ctx.facts.is_test or ctx.facts.is_example or not isinstance(node, ast.Call):
        return
    if ctx.route is not None or not isinstance(node.func, ast.Attribute):
        return
    receiver = node.func.value
    if _scheduler_type(receiver, ctx) is None and not _schedule_loop_thread(receiver, ctx):
        return
    if not _switched(node, ctx):
        found.append(node)
