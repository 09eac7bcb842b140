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
    is_task_function,
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
    ingested, as long as the data it carries (``for record in records: ... session.add(row)``);
    updating rows that exist (``save(update_fields=...)``) stores none.
    A mapping's entries (``tags.items()``) are one object's keyed attributes, not a batch."""
    if not isinstance(loop, ast.For | ast.AsyncFor) or not isinstance(loop.iter, ast.Name):
        return False
    if loop.iter.id not in parameter_names(ctx):
        return False
    return any(
        isinstance(node, ast.Call) and _writes_rows(node, ctx) and not _updates_only(node)
        for statement in loop.body
        for node in ast.walk(statement)
    )


def _updates_only(call: ast.Call) -> bool:
    """``row.save(update_fields=[...])``: Django runs an UPDATE of a row that exists and never
    inserts one -- no new row stored."""
    return (
        isinstance(call.func, ast.Attribute)
        and call.func.attr == "save"
        and any(keyword.arg == "update_fields" for keyword in call.keywords)
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


# Lookups that select rows by their own key: at most one row per value given.
_KEY_LOOKUPS = frozenset({"pk__in", "id__in"})
# Queryset steps that keep (a subset of) the rows the filters select.
_SAME_ROWS = frozenset(
    {"filter", "order_by", "select_related", "prefetch_related", "only", "defer", "using"}
    | {"distinct", "all"}
)


def _selected_keys(expr: ast.expr, ctx: PythonContext) -> tuple[ast.expr, bool] | None:
    """The values of the ``__in`` lookup a Django queryset selects its rows by, when that is its
    only filter (``Model.objects.filter(pk__in=ids)``; ``filter(**{f"{field}__in": values})``,
    a lookup built at run time): the loop over it yields at most one row per value when the
    lookup is on the key (True), an unknown number per value when the field is not visible
    (False). None: the rows are selected otherwise."""
    for _ in range(3):
        if not isinstance(expr, ast.Name):
            break
        value = ctx.value_of(expr.id)
        if value is None:
            return None
        expr = value
    if not isinstance(expr, ast.Call):
        return None
    chain = django_query(expr)
    if chain is None or not set(chain.steps) <= _SAME_ROWS:
        return None
    filters = [call for call in chain.calls if _method(call) == "filter"]
    keywords = [keyword for call in filters for keyword in call.keywords]
    for keyword in keywords:
        if keyword.arg in _KEY_LOOKUPS:
            return keyword.value, True  # further conditions only narrow the rows
    if len(keywords) != 1 or filters[0].args:
        return None
    built = keywords[0].value
    if isinstance(built, ast.Dict) and len(built.keys) == 1 and _runtime_in_lookup(built.keys[0]):
        return built.values[0], False
    return None


def _method(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else ""


def _runtime_in_lookup(key: ast.expr | None) -> bool:
    """``f"{field}__in"`` / ``"{}__in".format(field)``: an ``__in`` lookup on a field chosen at
    run time."""
    if isinstance(key, ast.JoinedStr) and key.values:
        last = key.values[-1]
        return isinstance(last, ast.Constant) and str(last.value).endswith("__in")
    if isinstance(key, ast.Call) and isinstance(key.func, ast.Attribute):
        template = key.func.value
        return (
            key.func.attr == "format"
            and isinstance(template, ast.Constant)
            and str(template.value).endswith("__in")
        )
    return False


# Collection types whose items a parameter's annotation names (``Iterable["Line"]``).
_COLLECTIONS = frozenset(
    {"list", "List", "Iterable", "Sequence", "Collection", "set", "Set", "Iterator"}
    | {"tuple", "Tuple", "QuerySet", "Generator"}
)


def _typed_as_rows(iterable: ast.expr, ctx: PythonContext) -> bool:
    """A parameter the function does not reassign, annotated as a collection of a class
    imported from a ``models`` module (``lines: Iterable["OrderLine"]``): rows of a table,
    however the caller got them."""
    scope = ctx.function
    if scope is None or not isinstance(iterable, ast.Name) or ctx.value_of(iterable.id):
        return False
    arguments = scope.node.args
    for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
        if argument.arg == iterable.id:
            return _names_model_collection(argument.annotation, ctx)
    return False


def _names_model_collection(annotation: ast.expr | None, ctx: PythonContext) -> bool:
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return False
    if not isinstance(annotation, ast.Subscript):
        return False
    container = annotation.value
    container_name = container.attr if isinstance(container, ast.Attribute) else ""
    if isinstance(container, ast.Name):
        container_name = container.id
    if container_name not in _COLLECTIONS:
        return False
    item = annotation.slice
    if isinstance(item, ast.Tuple) and item.elts:
        item = item.elts[0]
    if isinstance(item, ast.Constant) and isinstance(item.value, str):
        try:
            item = ast.parse(item.value, mode="eval").body
        except SyntaxError:
            return False
    if not isinstance(item, ast.Name | ast.Attribute):
        return False
    qualified = ctx.qualname(item) or ""
    return "models" in qualified.split(".")[:-1]


def _growth(iterable: ast.expr, ctx: PythonContext) -> Growth:
    """What the loop's iteration count grows with; rows selected by a list of keys grow with
    that list (one row per key at most), and with a lookup built at run time, whose field is
    not visible, only when that list does -- otherwise the rule cannot tell."""
    selected = _selected_keys(iterable, ctx)
    if selected is None:
        growth = iterable_growth(iterable, ctx)
        if growth is Growth.UNKNOWN and _typed_as_rows(iterable, ctx):
            return Growth.ROWS
        return growth
    values, on_key = selected
    growth = iterable_growth(values, ctx)
    if growth is Growth.BOUNDED and not on_key:
        return Growth.UNKNOWN
    return growth


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
        (_growth(it, ctx) for loop in loops for it in _loop_iterables(loop)),
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
        if _argumentless_task(ctx):
            ctx.report(
                node,
                f"{_short(ctx, node)} runs one query per loop iteration, in a background task "
                "that takes no arguments (a sweep a schedule starts, off the request path); "
                "could not tell how often it runs or whether its run time matters: if it "
                f"does, {advice}",
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
    elif (selected := _selected_keys(_loop_iterables(loops[-1])[0], ctx)) is not None:
        keys = " ".join(ctx.segment(selected[0]).split())
        per_key = "one row per key" if selected[1] else "the rows selected by each value"
        text = (
            f"the loop covers {per_key} of a list the code received ({keys}), and could not "
            f"tell whether that list grows with the data: if it does, this is an N+1 -- {advice}"
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


def _argumentless_task(ctx: PythonContext) -> bool:
    """The code runs in a background task that takes no arguments (``self`` of a bound task
    aside): nothing enqueues it with data to work on, so a schedule (or an operator) starts it
    -- a sweep off the request path, whose queries cost no user any latency."""
    scope = ctx.function
    while scope is not None:
        node = scope.node
        if is_task_function(node, ctx):
            arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            if arguments and arguments[0].arg == "self":
                arguments = arguments[1:]
            return not arguments and node.args.vararg is None and node.args.kwarg is None
        scope = scope.parent
    return False
