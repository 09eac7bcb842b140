"""Background tasks: functions that Celery, Dramatiq, RQ and similar workers run."""

from __future__ import annotations

import ast

from prodready.engine.analysis.literals import dotted
from prodready.engine.python import PythonContext

_TASK_DECORATOR_SUFFIXES = (".task", ".shared_task", ".actor", ".periodic_task")


_TASK_DECORATORS = frozenset(
    {"celery.shared_task", "celery.task", "dramatiq.actor", "huey.task", "rq.job", "shared_task"}
    | {"rq.decorators.job"}  # RQ documents `from rq.decorators import job`
)


# ``@task`` of task runners that are command-line tools, not workers.
_NOT_TASK_ROOTS = ("invoke.", "fabric.", "nox.", "prefect.", "airflow.")


def is_task_function(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> bool:
    """A background-task entry point: ``@shared_task``, ``@app.task(...)``, ``@celery.task``,
    ``@dramatiq.actor``, ``@huey.task()``... -- run once per message by a worker."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = ctx.qualname(target) or dotted(target) or ""
        if name.startswith(_NOT_TASK_ROOTS):
            continue
        if name in _TASK_DECORATORS or name.endswith(_TASK_DECORATOR_SUFFIXES):
            return True
    return False


def in_task(ctx: PythonContext) -> bool:
    """The code being walked runs inside a background-task function (or a function nested in
    one). The answer is cached on each scope."""
    scope = ctx.function
    while scope is not None:
        known = scope.state.get("analysis:task")
        if known is None:
            known = is_task_function(scope.node, ctx)
            scope.state["analysis:task"] = known
        if known:
            return True
        scope = scope.parent
    return False


def task_decorator(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> ast.expr | None:
    """The decorator that makes ``node`` a background task (see :func:`is_task_function`):
    ``@app.task(bind=True, ...)`` (an ``ast.Call`` whose keywords are the task's options),
    ``@shared_task``... ``None`` for other functions."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = ctx.qualname(target) or dotted(target) or ""
        if name.startswith(_NOT_TASK_ROOTS):
            continue
        if name in _TASK_DECORATORS or name.endswith(_TASK_DECORATOR_SUFFIXES):
            return decorator
    return None
