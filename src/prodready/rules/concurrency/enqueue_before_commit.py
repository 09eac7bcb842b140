"""Concurrency: a background task enqueued before the transaction holding its data commits
(CON011)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    ModuleMemo,
    ProjectFact,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import dotted, is_script, keyword_value, walk_body

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
# A task whose class sends it from transaction.on_commit() (a "transaction-aware" base): its
# .delay()/.apply_async() already waits for the commit.
_AWARE_TASK_FACT = "concurrency:commit-aware-task:"
_SEND_OVERRIDES = frozenset({"apply_async", "delay", "send", "enqueue"})
# Classes whose save() may update an existing row as well as insert one.
_NOT_ROWS = ("Serializer", "Form", "FormSet", "Schema")


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


# The module's actors, listed once (not once per function).
_ACTORS: ModuleMemo[set[str]] = ModuleMemo("CON011:actors", _actors)
# Every enqueueing method's name contains one of these words: a module without them enqueues
# nothing, and its functions need no look (a name outside ASCII may be spelled otherwise).
_ENQUEUE_WORDS = ("delay", "apply_async", "enqueue", "kiq", "schedule", "send")
_MAY_ENQUEUE: ModuleMemo[bool] = ModuleMemo(
    "CON011:may-enqueue",
    lambda ctx: not ctx.source.isascii() or any(word in ctx.source for word in _ENQUEUE_WORDS),
)


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
        ) or _creates(node.value)
    return False


def _creates(value: ast.expr) -> bool:
    """``X.objects.create(...)`` / ``await X.objects.acreate(...)``: a new row."""
    if isinstance(value, ast.Await):
        value = value.value
    return isinstance(value, ast.Call) and _method(value) in {"create", "acreate"}


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
    ctx.memo(_AWARE_TASKS)
    if not ctx.memo(_MAY_ENQUEUE):
        return
    function = scope.node
    actors = ctx.memo(_ACTORS)
    nodes = [n for n in walk_body(function.body) if not isinstance(n, _OPAQUE)]
    if not any(isinstance(n, ast.Call) and _enqueue(n, actors) for n in nodes):
        return
    blocks: list[ast.With | ast.AsyncWith] = [
        n for n in nodes if isinstance(n, ast.With | ast.AsyncWith) and _transaction_block(n)
    ]
    whole = _decorated_atomic(function)
    commits = [n.lineno for n in nodes if isinstance(n, ast.Call) and _method(n) in _COMMITS]
    writes = [(getattr(n, "lineno", 0), _written_names(n)) for n in nodes if _write(n)]
    for call in nodes:
        if not (isinstance(call, ast.Call) and _enqueue(call, actors)) or _deferred(call):
            continue
        line = call.lineno
        inside = [b for b in blocks if b.lineno < line <= (b.end_lineno or b.lineno)]
        if inside or whole:
            start = inside[-1].lineno if inside else function.lineno
            if _hands_over(call, writes, start, line):
                _report(call, "the transaction around it", nodes, ctx)
                return
            continue
        later = [at for at in commits if at > line]
        if not later:
            continue
        earlier_commit = max((at for at in commits if at < line), default=function.lineno)
        if _hands_over(call, writes, earlier_commit, line):
            _report(call, f"the commit on line {later[0]}", nodes, ctx)
            return


def _written_names(node: ast.AST) -> set[str]:
    """The objects a write changes: ``order`` of ``order.status = ...``, ``order.save()``,
    ``session.add(report)``, ``report = Report.objects.create(...)``."""
    if isinstance(node, ast.Assign):
        return {
            t.value.id
            for t in node.targets
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
        } | {t.id for t in node.targets if isinstance(t, ast.Name) and _creates(node.value)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        receiver = node.func.value
        found: set[str] = set()
        if _method(node) in {"add", "add_all", "merge"}:
            found = {a.id for a in node.args if isinstance(a, ast.Name)}
        elif _method(node) in {"execute", "executemany"}:  # the statement's parameters
            found = {n.id for a in node.args[1:] for n in ast.walk(a) if isinstance(n, ast.Name)}
        if isinstance(receiver, ast.Name):
            found.add(receiver.id)
        return found
    return set()


def _hands_over(call: ast.Call, writes: list[tuple[int, set[str]]], start: int, line: int) -> bool:
    """A write between ``start`` and the enqueue whose object the task is given (its id, the
    object itself): the worker reads what is not committed yet. A task given only values from
    elsewhere (a webhook's ids) does not read those writes."""
    passed = {n.id for n in ast.walk(call) if isinstance(n, ast.Name)}
    written: set[str] = set()
    for at, names in writes:
        if start <= at < line:
            written |= names
    return bool(passed & written)


def _deferred(call: ast.Call) -> bool:
    """``apply_async(countdown=60)`` / ``eta=...``: delivered later on purpose."""
    for name in ("countdown", "eta"):
        value = keyword_value(call, name)
        if value is not None and not (isinstance(value, ast.Constant) and not value.value):
            return True
    return False


def _created_rows(nodes: list[ast.AST], before: int) -> set[str]:
    """Names bound before ``before`` to a row made here: ``x = X.objects.create(...)``,
    ``x = X(...)`` (then added to the session or saved)."""
    created: set[str] = set()
    built: set[str] = set()
    stored: set[str] = set()
    for node in nodes:
        if getattr(node, "lineno", before) >= before:
            continue
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            if isinstance(value, ast.Await):
                value = value.value
            if isinstance(target, ast.Name) and isinstance(value, ast.Call):
                method = _method(value)
                if method in {"create", "acreate"}:
                    created.add(target.id)
                elif method[:1].isupper() and not method.endswith(_NOT_ROWS):
                    built.add(target.id)  # a model built here (a serializer's save may update)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = node.func.value
            if node.func.attr == "add" and node.args and isinstance(node.args[0], ast.Name):
                stored.add(node.args[0].id)  # ``session.add(report)``
            elif node.func.attr in {"save", "asave"} and isinstance(receiver, ast.Name):
                stored.add(receiver.id)  # ``invoice.save()``
    return created | (built & stored)


def _report(call: ast.Call, until: str, nodes: list[ast.AST], ctx: PythonContext) -> None:
    """High when the task is given a row inserted in this transaction (the worker can find
    no row at all), medium when it is given rows changed here (it reads their old state)."""
    passed = {n.id for n in ast.walk(call) if isinstance(n, ast.Name)}
    fresh = passed & _created_rows(nodes, call.lineno)
    task = _task_name(call)
    ctx.report(
        call,
        f"{ctx.segment(call.func)}() hands the task to a worker before {until} has committed "
        "the rows written above: the worker can run first and read the old state (or no row), "
        "and if the commit fails the task still runs. Enqueue after the commit "
        "(transaction.on_commit(...) in Django, or after session.commit())",
        severity=None if fresh else Severity.MEDIUM,
        unless=(ProjectFact(_AWARE_TASK_FACT + task, ""),) if task else (),
    )


def _task_name(call: ast.Call) -> str | None:
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    receiver = func.value
    if isinstance(receiver, ast.Attribute):
        return receiver.attr
    return receiver.id if isinstance(receiver, ast.Name) else None


def _aware_tasks(ctx: PythonContext) -> bool:
    """State the module's tasks that wait for the commit by themselves: declared with a base
    class (``@app.task(base=TransactionAwareTask)``) whose ``apply_async``/``delay`` calls
    ``transaction.on_commit``; the classes are found in this module, or named for it."""
    if ctx.facts.is_test:
        return False
    if ctx.source.isascii() and "base" not in ctx.source:
        return True  # no decorator passes a base class: nothing to state
    aware: set[str] = set()
    for node in ctx.nodes():
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if (
                    isinstance(item, ast.FunctionDef)
                    and item.name in _SEND_OVERRIDES
                    and "on_commit" in ctx.segment(item)
                ):
                    aware.add(node.name)
    for node in ctx.nodes():
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            if not isinstance(decorator, ast.Call):
                continue
            base = keyword_value(decorator, "base")
            name = (dotted(base) or "").rsplit(".", 1)[-1] if base is not None else ""
            if name and (name in aware or "transactionaware" in name.lower()):
                ctx.establish(ProjectFact(_AWARE_TASK_FACT + node.name, ""))
    return True


_AWARE_TASKS: ModuleMemo[bool] = ModuleMemo("CON011:aware-tasks", _aware_tasks)
