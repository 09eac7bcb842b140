"""Data access: the evidence PRF017 weighs before calling a query in a loop an N+1 -- does the
loop's iteration count grow with the data, or is the query one per parent of a batch?"""

from __future__ import annotations

import ast

from prodready.plugin import Confidence, PythonContext, Severity
from prodready.plugin.analysis import (
    DJANGO_WRITE_METHODS,
    Growth,
    django_query,
    is_db_session,
    iterable_growth,
    method_chain,
    parameter_names,
    sqlalchemy_query,
)
from prodready.rules.data_access._shared import _COMPREHENSIONS, _short

_SESSION_WRITES = frozenset(
    {"add", "add_all", "merge", "bulk_save_objects", "bulk_insert_mappings"}
)


def _loop_iterables(loop: ast.AST) -> list[ast.expr]:
    if isinstance(loop, ast.For | ast.AsyncFor):
        return [loop.iter]
    if isinstance(loop, _COMPREHENSIONS):
        return [generator.iter for generator in loop.generators]
    return []


def _writes_rows(call: ast.Call, ctx: PythonContext) -> bool:
    """``session.add(x)``, ``obj.save()``, ``Model.objects.create(...)``: a row stored."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr in _SESSION_WRITES:
        return is_db_session(func.value, ctx)
    if func.attr == "save":
        return True
    chain = django_query(call)
    return chain is not None and bool(set(chain.steps) & DJANGO_WRITE_METHODS)


def _database_work(nodes: list[ast.stmt], ctx: PythonContext) -> bool:
    """Whether the statements query or write the database."""
    for statement in nodes:
        for node in ast.walk(statement):
            if not isinstance(node, ast.Call):
                continue
            if django_query(node) is not None or sqlalchemy_query(node, ctx) is not None:
                return True
            if _writes_rows(node, ctx):
                return True
    return False


def _ingests_parameter(loop: ast.AST, ctx: PythonContext) -> bool:
    """A loop over a sequence the function receives that stores a row per item: a batch being
    ingested, as long as the data it carries (``for record in records: ... session.add(row)``).
    A mapping's entries (``tags.items()``) are one object's keyed attributes, not a batch."""
    if not isinstance(loop, ast.For | ast.AsyncFor) or not isinstance(loop.iter, ast.Name):
        return False
    if loop.iter.id not in parameter_names(ctx):
        return False
    return any(
        isinstance(node, ast.Call) and _writes_rows(node, ctx)
        for statement in loop.body
        for node in ast.walk(statement)
    )


def _per_parent_batch(node: ast.Call, ctx: PythonContext) -> bool:
    """The query's rows are iterated right after, in the same iteration, by a nested loop that
    does database work per row (``for event in events: pending = event.orders.filter(...);
    for order in pending: ... order.save()``): one query per parent feeding a batch whose work
    is per child, not an N+1 lookup whose count is the whole cost. The rows may reach the
    nested loop through the names computed from them (``ids = [r.doc_id for r in rows]``;
    ``docs = Doc.objects.filter(pk__in=ids)``; ``for doc in docs: ...``)."""
    loop = ctx.loops[-1]
    if not isinstance(loop, ast.For | ast.AsyncFor):
        return False
    assignments = [
        (statement.targets[0].id, statement.value)
        for statement in ast.walk(loop)
        if isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
    ]
    held = {name for name, value in assignments if any(i is node for i in ast.walk(value))}
    if not held:
        return False
    grown = True
    while grown:
        derived = {
            name
            for name, value in assignments
            if name not in held
            and any(isinstance(i, ast.Name) and i.id in held for i in ast.walk(value))
        }
        held |= derived
        grown = bool(derived)
    for inner in ast.walk(loop):
        if inner is loop or not isinstance(inner, ast.For | ast.AsyncFor):
            continue
        base, _ = method_chain(inner.iter)
        if isinstance(base, ast.Name) and base.id in held and _database_work(inner.body, ctx):
            return True
    return False


# Libraries whose calls read or write files or reach another system (by the root of the
# qualified name): per item, such a call costs far more than one indexed query.
_IO_ROOTS = frozenset(
    {"subprocess", "requests", "httpx", "urllib", "urllib3", "aiohttp", "imaplib", "poplib"}
    | {"smtplib", "ftplib", "paramiko", "boto3", "pikepdf", "fitz", "pypdf", "PyPDF2", "PIL"}
)
_OPEN = frozenset({"open", "builtins.open", "io.open"})


def _per_item_io(loop: ast.AST, ctx: PythonContext) -> ast.Call | None:
    """A call in the loop's body that opens a file or reaches another system (``open(path)``,
    ``pikepdf.open(...)``, ``requests.post(...)``): the first, or None."""
    if not isinstance(loop, ast.For | ast.AsyncFor):
        return None
    for statement in loop.body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Call):
                name = ctx.qualname(node.func) or ""
                if name in _OPEN or name.split(".", 1)[0] in _IO_ROOTS:
                    return node
    return None


def _report_by_evidence(
    node: ast.Call,
    ctx: PythonContext,
    loops: list[ast.AST],
    message: str,
    advice: str,
    confidence: Confidence | None = None,
) -> None:
    """Report at the rule's severity when the loop's iteration count grows with the data (it
    iterates database rows or what the request sends, or ingests a batch it receives); at low,
    saying what could not be told, otherwise."""
    growth = max(
        (iterable_growth(it, ctx) for loop in loops for it in _loop_iterables(loop)),
        default=Growth.UNKNOWN,
    )
    if growth >= Growth.REQUEST and _per_parent_batch(node, ctx):
        ctx.report(
            node,
            f"{_short(ctx, node)} runs one query per iteration, but its rows are processed one "
            "by one with their own database work in the loop below (a per-parent batch): the "
            "query per parent is not what grows with the data; to save it anyway, "
            f"{advice}",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    if growth >= Growth.REQUEST or any(_ingests_parameter(loop, ctx) for loop in loops):
        io = _per_item_io(ctx.loops[-1], ctx)
        if io is not None:
            called = " ".join(ctx.segment(io.func).split())
            ctx.report(
                node,
                f"{_short(ctx, node)} runs one query per loop iteration, but each iteration "
                f"also opens a file or calls another system ({called}, line {io.lineno}), "
                "which costs far more than one query: the queries are not what makes this "
                f"loop slow; to save them anyway, {advice}",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )
            return
        ctx.report(node, f"{message}: {advice}", confidence=confidence)
        return
    iterated = " ".join(ctx.segment(_loop_iterables(loops[-1])[0]).split())
    if len(iterated) > 40:
        iterated = iterated[:37] + "..."
    if growth is Growth.BOUNDED:
        text = (
            f"the loop covers one slice or page ({iterated}), so the queries are at most a "
            f"page's worth: to make them one, {advice}"
        )
    else:
        text = (
            f"could not tell whether the loop's collection ({iterated}) grows with the data: "
            f"if it does, this is an N+1 -- {advice}"
        )
    ctx.report(
        node,
        f"{_short(ctx, node)} runs one query per loop iteration; {text}",
        severity=Severity.LOW,
        confidence=Confidence.LOW,
    )
