"""Performance: a background job that loads every row of a query into one list before working
through it (PRF014)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import is_task_function, walk_body

# Modules whose functions run as scheduled or queued work (RQ/cron jobs, Celery tasks, workers).
_JOB_MODULES = frozenset(
    {"jobs", "job", "tasks", "cron", "crons", "cronjobs", "worker", "workers", "scheduler"}
    | {"periodic", "periodic_tasks", "batch", "batches"}
)
_SCHEDULED_WORDS = re.compile(r"\b(cron|crontab|every (hour|day|night|minute)|scheduled?)\b", re.I)
# Steps that bound or stream what a SQLAlchemy query returns.
_BOUNDING = frozenset({"limit", "first", "one", "one_or_none", "scalar", "get", "slice"})
_BOUNDING |= frozenset({"yield_per", "paginate", "fetchmany", "group_by", "distinct"})


def _chain_names(expr: ast.AST) -> list[str]:
    names: list[str] = []
    while True:
        if isinstance(expr, ast.Await):
            expr = expr.value
        elif isinstance(expr, ast.Call):
            expr = expr.func
        elif isinstance(expr, ast.Attribute):
            names.append(expr.attr)
            expr = expr.value
        else:
            return names


def _materialized(value: ast.AST, assigned: dict[str, ast.expr], ctx: PythonContext) -> bool:
    """``X.query.filter(...).all()``, ``session.scalars(select(X)...).all()``,
    ``session.query(X)...all()``, ``cursor.fetchall()``: the whole result as one list, no
    ``limit()``/``yield_per()`` in the query (or the statement a local holds)."""
    names = _chain_names(value)
    if not names or names[0] not in {"all", "fetchall"}:
        return False
    text = ctx.segment(value)
    for name, held in assigned.items():
        if re.search(rf"\b{re.escape(name)}\b", text):
            text += ctx.segment(held)
    if set(names) & _BOUNDING or re.search(r"\.(limit|yield_per|slice|fetchmany)\(", text):
        return False
    if names[0] == "fetchall":
        return not re.search(r"\blimit\b", text, re.I)
    return "query" in names or "scalars" in names or "select(" in text or "execute" in names


def _job(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> bool:
    if is_task_function(function, ctx):
        return True
    if ctx.facts.module.rsplit(".", 1)[-1] in _JOB_MODULES:
        return True
    docstring = ast.get_docstring(function) or ""
    return _SCHEDULED_WORDS.search(docstring) is not None


@python_rule(
    code="PRF014",
    name="whole-result-loaded-in-job",
    category=Category.PERFORMANCE,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="A background job loads every row of a query into one list before iterating it",
    nodes=(FunctionEnd,),
    fix="Stream or batch the rows: .yield_per(500) / execution_options(stream_results=True), "
    "fetchmany(), or keyset batches with .limit(); enqueue ids, not rows.",
)
def whole_result_loaded_in_job(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a background job -- a Celery/RQ/Dramatiq/Huey task, a function of a `jobs`/`tasks`/
    `cron`/`worker` module, a function whose docstring says it runs from cron or on a
    schedule -- that materializes every row of a query as one list (`Model.query.filter(...)
    .all()`, `session.scalars(select(X)).all()`, `session.query(X).all()`,
    `cursor.fetchall()` without LIMIT) and then only iterates it. Queries with `limit()`,
    `yield_per()` or grouping, and lists that are used otherwise, are not flagged.

    ## Why it breaks production
    A job that renews "every due subscription" or re-sends "every pending notification" is
    written when there are dozens; it runs when there are hundreds of thousands. `.all()`
    builds one ORM object per row before the first is processed: the worker's memory grows
    with the table until it is OOM-killed mid-run -- and the next run starts over with more
    rows. The rows also go stale while the job works through them.

    ## Example
    ```python
    @shared_task
    def expire_trials():
        trials = session.scalars(select(Account).where(Account.trial_ends < now())).all()
        for account in trials:
            downgrade(account)
    ```

    ## Use instead
    ```python
    @shared_task
    def expire_trials():
        query = select(Account.id).where(Account.trial_ends < now())
        for account_id in session.scalars(query.execution_options(yield_per=500)):
            downgrade_account.delay(account_id)
    ```
    Or process keyset batches (`.where(Account.id > last_id).order_by(Account.id).limit(500)`)
    until none is left; with a DB-API cursor, `fetchmany(500)` in a loop.
    """
    if ctx.facts.is_test or ctx.route is not None:
        return
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    if ".all()" not in ctx.segment(node) and "fetchall()" not in ctx.segment(node):
        return
    if not _job(node, ctx):
        return
    nodes = list(walk_body(node.body))
    assigned = {
        n.targets[0].id: n.value
        for n in nodes
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
    }
    for statement in nodes:
        if not (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and _materialized(statement.value, assigned, ctx)
        ):
            continue
        name = statement.targets[0].id
        loads = [n for n in nodes if isinstance(n, ast.Name) and n.id == name]
        loads = [n for n in loads if isinstance(n.ctx, ast.Load)]
        loops = [n for n in nodes if isinstance(n, ast.For | ast.AsyncFor) and n.iter in loads]
        if loads and len(loops) == len(loads):
            loaded = " ".join(ctx.segment(statement.value).split())[:60]
            ctx.report(
                statement,
                f"{name} = {loaded} loads every row into one list "
                "before the job works through them: memory grows with the table until the "
                "worker is killed. Stream them (yield_per, fetchmany) or work in keyset "
                "batches with limit()",
            )
