"""Concurrency: a background task enqueued before the transaction holding its data commits
(CON011)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, FunctionEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import dotted, is_script, walk_body

_OPAQUE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
# Celery, RQ, arq, taskiq, Huey-style calls that hand work to another process.
_ENQUEUE_METHODS = frozenset(
    {"delay", "apply_async", "send_task", "enqueue", "enqueue_call", "enqueue_in", "enqueue_at"}
    | {"enqueue_job", "kiq", "schedule"}
)
_SEND_METHODS = frozenset({"send", "send_with_options"})  # Dramatiq actors
_TRANSACTION_BLOCKS = re.compile(r"(^|\.)(atomic|begin|begin_nested|transaction)$")
_COMMITS = frozenset({"commit"})
_ORM_WRITES = frozenset(
    {"save", "asave", "create", "acreate", "update", "aupdate", "delete", "adelete", "add"}
    | {"add_all", "bulk_create", "bulk_update", "merge", "execute", "executemany", "flush"}
)
_WRITE_SQL = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.I)


def _method(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _actors(ctx: PythonContext) -> set[str]:
    """Names of the module's Dramatiq actors (``@dramatiq.actor`` / ``@actor``)."""
    found: set[str] = set()
    for node in ctx.tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if (dotted(target) or "").rsplit(".", 1)[-1] == "actor":
                    found.add(node.name)
    return found


def _enqueue(call: ast.Call, actors: set[str]) -> bool:
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr in _ENQUEUE_METHODS:
        return func.attr != "schedule" or "queue" in ast.unparse(func.value).lower()
    if func.attr in _SEND_METHODS:
        return isinstance(func.value, ast.Name) and func.value.id in actors
    return False


def _write(node: ast.AST) -> bool:
    """A database write: an ORM save/create/update/add, a raw INSERT/UPDATE/DELETE, a field of
    a loaded row assigned (written by the commit that follows)."""
    if isinstance(node, ast.Call):
        method = _method(node)
        if method in {"execute", "executemany"}:
            first = node.args[0] if node.args else None
            text = first.args[0] if isinstance(first, ast.Call) and first.args else first
            return (
                isinstance(text, ast.Constant)
                and isinstance(text.value, str)
                and bool(_WRITE_SQL.match(text.value))
            )
        return method in _ORM_WRITES and isinstance(node.func, ast.Attribute)
    if isinstance(node, ast.Assign):
        return any(
            isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) for t in node.targets
        )
    return False


def _transaction_block(node: ast.With | ast.AsyncWith) -> bool:
    for item in node.items:
        expr = item.context_expr
        if isinstance(expr, ast.Call):
            name = dotted(expr.func) or ""
            if _TRANSACTION_BLOCKS.search(name):
                return True
    return False


def _decorated_atomic(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if (dotted(target) or "").endswith("atomic"):
            return True
    return False


@python_rule(
    code="CON011",
    name="task-enqueued-before-commit",
    category=Category.CONCURRENCY,
    severity=Severity.HIGH,
    summary="A background task is enqueued before the transaction that wrote its data commits",
    nodes=(FunctionEnd,),
    confidence=Confidence.MEDIUM,
    fix="Enqueue after the commit: transaction.on_commit(lambda: task.delay(obj.pk)) in Django, "
    "or call .delay()/.enqueue()/.send() after session.commit() returns.",
)
def task_enqueued_before_commit(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a task handed to a queue -- Celery `.delay()`/`.apply_async()`/`send_task()`, RQ
    `queue.enqueue()`, arq `enqueue_job()`, taskiq `.kiq()`, a Dramatiq actor's `.send()` --
    after a database write and before that write commits: inside `with transaction.atomic():`
    (or a function decorated `@transaction.atomic`), inside SQLAlchemy's `with
    session.begin():` / asyncpg's `async with conn.transaction():`, or before the function's
    own `session.commit()` / `conn.commit()`. A task deferred with
    `transaction.on_commit(...)` is not reported (the call is inside the callback).

    ## Why it breaks production
    The broker delivers at once and a worker often starts before the request commits: it
    loads the row and finds nothing (`DoesNotExist`) or the old state, and acts on it. When the
    commit fails, the transaction rolls back but the task already runs -- an email for an
    order that does not exist, a grade computed from unsaved answers. It passes every test,
    where the worker is slow or eager.

    ## Example
    ```python
    session.status = "submitted"
    grade_session.delay(session.id)
    db.commit()
    ```

    ## Use instead
    ```python
    session.status = "submitted"
    db.commit()
    grade_session.delay(session.id)
    # Django:
    transaction.on_commit(lambda: grade_session.delay(session.pk))
    ```
    """
    scope = ctx.function
    if scope is None or ctx.facts.is_test or is_script(ctx):
        return
    function = scope.node
    actors = _actors(ctx)
    nodes = [n for n in walk_body(function.body) if not isinstance(n, _OPAQUE)]
    if not any(isinstance(n, ast.Call) and _enqueue(n, actors) for n in nodes):
        return
    blocks: list[ast.With | ast.AsyncWith] = [
        n for n in nodes if isinstance(n, ast.With | ast.AsyncWith) and _transaction_block(n)
    ]
    whole = _decorated_atomic(function)
    commits = [n.lineno for n in nodes if isinstance(n, ast.Call) and _method(n) in _COMMITS]
    writes = [getattr(n, "lineno", 0) for n in nodes if _write(n)]
    for call in nodes:
        if not (isinstance(call, ast.Call) and _enqueue(call, actors)):
            continue
        line = call.lineno
        inside = [b for b in blocks if b.lineno < line <= (b.end_lineno or b.lineno)]
        if inside or whole:
            start = inside[-1].lineno if inside else function.lineno
            if any(start <= at < line for at in writes):
                _report(call, "the transaction around it", ctx)
                return
            continue
        later = [at for at in commits if at > line]
        if not later:
            continue
        earlier_commit = max((at for at in commits if at < line), default=function.lineno)
        if any(earlier_commit <= at < line for at in writes):
            _report(call, f"the commit on line {later[0]}", ctx)
            return


def _report(call: ast.Call, until: str, ctx: PythonContext) -> None:
    ctx.report(
        call,
        f"{ctx.segment(call.func)}() hands the task to a worker before {until} has committed "
        "the rows written above: the worker can run first and read the old state (or no row), "
        "and if the commit fails the task still runs. Enqueue after the commit "
        "(transaction.on_commit(...) in Django, or after session.commit())",
    )
