"""State: ORM instances sent to background workers inside task messages (STA005), and tasks
that record work as done on a row without checking the record first (STA010)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, FunctionEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    QueryChain,
    argument,
    dotted,
    in_task,
    keyword_value,
    orm_query,
)

# -- STA005 ---------------------------------------------------------------------------------------

# Query terminals that return one row (a model instance), not a query or a count.
_ROW_TERMINALS = frozenset(
    {"get", "first", "last", "one", "one_or_none", "scalar_one", "scalar_one_or_none", "get_one"}
    | {"earliest", "latest", "create", "aget", "afirst", "alast", "acreate", "get_or_404"}
    | {"first_or_404", "one_or_404", "get_or_create", "update_or_create", "aget_or_create"}
)
# Query terminals whose items, iterated, are model instances.
_ROWS_TERMINALS = frozenset({"all", "filter", "exclude", "order_by", "select_related", "scalars"})
_ROWS_TERMINALS |= {"prefetch_related", "iterator", "only", "defer", "distinct", "query"}
_ROW_FACTORIES = frozenset(
    {"django.shortcuts.get_object_or_404", "django.shortcuts.aget_object_or_404"}
    | {"rest_framework.generics.get_object_or_404", "flask_sqlalchemy.get_or_404"}
)
# Methods of forms, serializers and generic views that return the instance they saved/loaded.
_ROW_METHODS = frozenset({"save", "get_object", "aget_object"})
_ROW_METHOD_OWNERS = ("form", "serializer", "self")
_COLUMN_STEPS = frozenset({"values", "values_list", "count", "exists", "aggregate", "scalar"})
_QUEUE_TYPES = ("rq.Queue", "rq.queue.Queue", "django_rq")


def _loop_over_rows(name: str, call: ast.AST, ctx: PythonContext) -> bool:
    """``name`` is the variable of an enclosing ``for`` over a query's rows."""
    parent = ctx.parent(call)
    while parent is not None and not isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef):
        if (
            isinstance(parent, ast.For | ast.AsyncFor)
            and isinstance(parent.target, ast.Name)
            and parent.target.id == name
        ):
            query = _query_of(parent.iter, ctx)
            return query is not None and (query in _ROWS_TERMINALS or query in _ROW_TERMINALS)
        parent = ctx.parent(parent)
    return False


def _query_of(expr: ast.expr, ctx: PythonContext) -> str | None:
    """The terminal method of the ORM query an expression is (or a local is bound to)."""
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if value is None:
            return None
        expr = value
    chain = orm_query(expr, ctx)
    if not _selects_instances(chain):
        return None
    assert chain is not None
    return chain.terminal or "query"


def _selects_instances(chain: QueryChain | None) -> bool:
    """The query selects whole model rows: a known model, no ``values()``/``values_list()``
    (dicts and tuples of columns), no column-only select (``select(Invoice.id)``)."""
    return (
        chain is not None
        and chain.model is not None
        and not any(step in _COLUMN_STEPS for step in chain.steps)
    )


def orm_instance(expr: ast.expr, call: ast.AST, ctx: PythonContext) -> str | None:
    """What makes ``expr`` a model instance (a short description), or None."""
    if isinstance(expr, ast.Attribute) and dotted(expr) in {"request.user", "self.request.user"}:
        return "the signed-in User row" if "django" in ctx.facts.frameworks else None
    if not isinstance(expr, ast.Name):
        return None
    value = ctx.value_of(expr.id)
    if value is None:
        return "a row of the query it loops over" if _loop_over_rows(expr.id, call, ctx) else None
    if isinstance(value, ast.Await):
        value = value.value
    if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Call):
        value = value.value  # obj = Model.objects.get_or_create(...)[0]
    if not isinstance(value, ast.Call):
        return None
    if ctx.qualname(value.func) in _ROW_FACTORIES:
        return "the row get_object_or_404() loaded"
    func = value.func
    if isinstance(func, ast.Attribute) and func.attr in _ROW_METHODS:
        owner = (dotted(func.value) or "").lower()
        if owner.endswith(_ROW_METHOD_OWNERS):
            return f"the instance {dotted(func.value)}.{func.attr}() returned"
    chain = orm_query(value, ctx)
    if chain is not None and _selects_instances(chain) and chain.terminal in _ROW_TERMINALS:
        model = f"a row of {chain.model}" if chain.model else "a row"
        return f"{model} loaded by .{chain.terminal}()"
    return None


def _other_class(receiver: ast.expr, kind: str) -> bool:
    """``receiver`` names a class imported from outside RQ (``SyncJob`` from the project's
    jobs module): RQ's ``enqueue`` is a method of a queue instance, so a class's ``enqueue``
    is that class's own (a project job runner storing the row's key)."""
    if not isinstance(receiver, ast.Name) or "." not in kind:
        return False
    if kind.startswith(_QUEUE_TYPES) or kind.split(".", 1)[0] == "rq":
        return False
    return kind.rpartition(".")[2][:1].isupper() and receiver.id[:1].isupper()


def _task_arguments(node: ast.Call, ctx: PythonContext) -> tuple[str, list[ast.expr]] | None:
    """The queueing API a call uses and the arguments it puts in the message."""
    func = node.func
    if not isinstance(func, ast.Attribute):
        return None
    attr = func.attr
    facts = ctx.facts
    if attr == "delay":
        return "Celery", list(node.args) + [k.value for k in node.keywords if k.arg]
    if attr == "apply_async":
        args = argument(node, 0, "args")
        kwargs = argument(node, 1, "kwargs")
        values = list(args.elts) if isinstance(args, ast.Tuple | ast.List) else []
        if isinstance(kwargs, ast.Dict):
            values += kwargs.values
        return "Celery", values
    if attr in {"enqueue", "enqueue_in", "enqueue_at", "enqueue_call"}:
        kind = ctx.type_of(func.value) or ctx.qualname(func.value) or ""
        if not (kind.startswith(_QUEUE_TYPES) or facts.imports_any(("rq", "django_rq"))):
            return None
        if _other_class(func.value, kind):
            return None  # ``SyncJob.enqueue(...)``: a class's own method, not RQ's
        if attr == "enqueue_call":
            args = keyword_value(node, "args")
            return "RQ", list(args.elts) if isinstance(args, ast.Tuple | ast.List) else []
        skip = 1 if attr == "enqueue" else 2  # the function (and the time) come first
        return "RQ", list(node.args[skip:]) + [k.value for k in node.keywords if k.arg]
    if attr in {"send", "send_with_options"} and facts.imports_any(("dramatiq",)):
        if not isinstance(func.value, ast.Name) or ctx.value_of(func.value.id) is not None:
            return None  # an actor is a module-level function, not a local socket or client
        if attr == "send_with_options":
            args = keyword_value(node, "args")
            return "Dramatiq", list(args.elts) if isinstance(args, ast.Tuple | ast.List) else []
        return "Dramatiq", list(node.args) + [k.value for k in node.keywords if k.arg]
    return None


@python_rule(
    code="STA005",
    name="orm-instance-in-task-message",
    category=Category.STATE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="A model instance passed to a background task instead of its primary key",
    calls=(
        "*.delay",
        "*.apply_async",
        "*.enqueue",
        "*.enqueue_in",
        "*.enqueue_at",
        "*.enqueue_call",
        "*.send",
        "*.send_with_options",
    ),
    fix="Pass the primary key (task.delay(order.pk)) and load the row inside the task, under "
    "the lock or status check the task needs.",
)
def orm_instance_in_task_message(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a Django or SQLAlchemy model instance passed as an argument of a background task:
    Celery `task.delay(obj)` / `apply_async(args=[obj])`, RQ `queue.enqueue(func, obj)` (and
    `enqueue_in`/`enqueue_at`/`enqueue_call`; not `Class.enqueue(...)` on a class imported
    from elsewhere -- RQ enqueues on a queue instance), Dramatiq `actor.send(obj)`. An instance is a
    row loaded by `.get()`/`.first()`/`.one()`/`get_object_or_404()`, returned by a form's or
    serializer's `save()` or a view's `get_object()`, a variable looping over a query's rows,
    or Django's `request.user`.

    ## Why it breaks production
    The message carries a pickled snapshot of the row as it was when the job was queued. The
    worker runs seconds or hours later, on another machine: it acts on stale data (a
    cancelled order is charged, an address changed since is used), and `obj.save()` in the
    task writes the old values back over changes made in between -- a lost update. A
    SQLAlchemy instance arrives detached from any session, so the first lazy relation
    (`sub.customer`) raises `DetachedInstanceError`. With Celery's default JSON serializer the
    call fails outright (`EncodeError`), and switching to pickle to "fix" it makes the worker
    unpickle whatever the broker holds.

    ## Example
    ```python
    @app.post("/invoices/<int:invoice_id>/send")
    def send_invoice(invoice_id):
        invoice = Invoice.query.get_or_404(invoice_id)
        queue.enqueue(email_invoice, invoice)
        return "", 202
    ```

    ## Use instead
    ```python
    @app.post("/invoices/<int:invoice_id>/send")
    def send_invoice(invoice_id):
        queue.enqueue(email_invoice, invoice_id)
        return "", 202

    def email_invoice(invoice_id):
        with Session() as session:
            invoice = session.get(Invoice, invoice_id)
            if invoice is None or invoice.sent_at is not None:
                return
            ...
    ```
    """
    if ctx.function is None or ctx.facts.is_test:
        return
    found = _task_arguments(node, ctx)
    if found is None:
        return
    api, values = found
    article = "an" if api == "RQ" else "a"
    for value in values:
        what = orm_instance(value, node, ctx)
        if what is None:
            continue
        ctx.report(
            node,
            f"{ctx.segment(value)} ({what}) is sent to {article} {api} worker inside the task "
            "message: the worker acts on a snapshot taken when the job was queued -- stale by "
            "the time it runs, detached from any database session, and written back over newer "
            "changes if the task saves it. Pass the primary key and load the row in the task",
        )
        return


# -- STA010 ---------------------------------------------------------------------------------------

# Calls that act outside the database: messages, payments, webhooks (a project helper named so).
_SIDE_EFFECT_WORDS: tuple[str, ...] = (
    "send",
    "notify",
    "email",
    "mail",
    "sms",
    "push",
    "charge",
    "deliver",
    "publish",
    "post",
    "dispatch",
    "refund",
    "payout",
    "transfer",
)
_DONE_VALUES = ("now", "utcnow", "time")


def _loaded_rows(function: ast.AST, ctx: PythonContext) -> dict[str, ast.Assign]:
    """Locals bound to one row of an ORM query in the function: name -> the assignment."""
    rows: dict[str, ast.Assign] = {}
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            value = node.value.value if isinstance(node.value, ast.Await) else node.value
            if ctx.qualname(value.func if isinstance(value, ast.Call) else value) in _ROW_FACTORIES:
                rows.setdefault(node.targets[0].id, node)
                continue
            chain = orm_query(value, ctx)
            if (
                chain is not None
                and _selects_instances(chain)
                and chain.terminal in _ROW_TERMINALS - _CREATING
            ):
                rows.setdefault(node.targets[0].id, node)
    return rows


# A row this run creates has no earlier run to repeat.
_CREATING = frozenset({"create", "acreate", "get_or_create", "update_or_create", "aget_or_create"})


def _done_mark(node: ast.AST, rows: dict[str, ast.Assign]) -> tuple[str, str] | None:
    """``row.sent = True`` / ``row.status = "sent"`` / ``row.sent_at = timezone.now()``: the row
    and the field that records the work as done."""
    if not isinstance(node, ast.Assign) or len(node.targets) != 1:
        return None
    target = node.targets[0]
    if not (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id in rows
    ):
        return None
    value = node.value
    marks = (isinstance(value, ast.Constant) and value.value is True) or (
        isinstance(value, ast.Constant) and isinstance(value.value, str)
    )
    if isinstance(value, ast.Call):
        callee = dotted(value.func) or ""
        marks = callee.rsplit(".", 1)[-1] in _DONE_VALUES
    return (target.value.id, target.attr) if marks else None


def _side_effect(node: ast.AST) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    name = dotted(node.func) or ""
    last = name.rsplit(".", 1)[-1]
    if last[:1].isupper():
        return None  # a class being built (TransferForm, EmailMessage), not an action yet
    if any(word in last.lower() for word in _SIDE_EFFECT_WORDS):
        return name
    return None


@python_rule(
    code="STA010",
    name="done-flag-not-checked",
    category=Category.STATE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="A task records work as done on a row but never checks the record before doing it",
    nodes=(FunctionEnd,),
    fix="Check the flag first and claim it atomically (updated = Model.objects.filter(pk=pk, "
    "sent=False).update(sent=True); if not updated: return), then do the side effect.",
)
def done_flag_not_checked(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a background task or request handler that loads a row, performs an external side
    effect (sends an SMS or e-mail, posts to another service, charges, publishes) and then
    records it on the row (`reminder.sent = True`, `order.status = "shipped"`,
    `invoice.sent_at = timezone.now()`) -- without reading that field (or filtering on it)
    anywhere before the side effect. Reported at the row's load.

    ## Why it breaks production
    Queues deliver at least once: a worker killed after the send but before the commit, a
    visibility timeout, an `autoretry_for` retry, a beat schedule that runs twice or a user
    clicking twice all run the task again -- and the code has written down exactly what it
    needs to stop the duplicate, but never looks at it. Patients get two reminders,
    customers two e-mails, partners two webhooks; cancelled rows get them too when the status
    is not checked either.

    ## Example
    ```python
    @dramatiq.actor(max_retries=5)
    def send_receipt(order_id):
        order = session.get(Order, order_id)
        mailer.send(order.email, render_receipt(order))
        order.receipt_sent = True
        session.commit()
    ```

    ## Use instead
    ```python
    @dramatiq.actor(max_retries=5)
    def send_receipt(order_id):
        claimed = session.execute(
            update(Order).where(Order.id == order_id, Order.receipt_sent.is_(False))
            .values(receipt_sent=True)
        ).rowcount
        session.commit()
        if not claimed:
            return  # already sent (or being sent) by another delivery
        order = session.get(Order, order_id)
        mailer.send(order.email, render_receipt(order), idempotency_key=f"receipt-{order_id}")
    ```
    """
    scope = ctx.function
    if scope is None or ctx.facts.is_test or (ctx.route is None and not in_task(ctx)):
        return
    rows = _loaded_rows(scope.node, ctx)
    if not rows:
        return
    marks: list[tuple[ast.Assign, tuple[str, str]]] = []
    effects: list[tuple[int, str]] = []
    for child in ast.walk(scope.node):
        found = _done_mark(child, rows)
        if found is not None and isinstance(child, ast.Assign):
            marks.append((child, found))
        effect = _side_effect(child)
        if effect is not None and isinstance(child, ast.Call):
            effects.append((child.lineno, effect))
    if not marks:
        return
    effects.sort()
    for mark, (row, field_name) in marks:
        load = rows[row]
        between = [(line, name) for line, name in effects if load.lineno < line < mark.lineno]
        if not between:
            continue
        first_effect = between[0][0]
        if _field_read_before(scope.node, field_name, mark, first_effect):
            continue
        if _row_state_tested(scope.node, row, first_effect):
            continue
        ctx.report(
            load,
            f"{scope.name}() records {row}.{field_name} after {between[0][1]}() (line "
            f"{first_effect}) but never checks it before: a retried or redelivered run -- or a "
            "second schedule -- does it again. Check the field first and claim it atomically "
            f"(filter(..., {field_name}=...).update(...)), then do the side effect",
        )
        return


def _row_state_tested(function: ast.AST, row: str, line: int) -> bool:
    """An ``if``/``while``/``assert`` before ``line`` tests a field of the row (a status check
    that may well be the guard: ``if mail.status == INFLIGHT: return``)."""
    for node in ast.walk(function):
        if not isinstance(node, ast.If | ast.While | ast.Assert | ast.IfExp):
            continue
        if node.lineno >= line:
            continue
        for part in ast.walk(node.test):
            if (
                isinstance(part, ast.Attribute)
                and isinstance(part.value, ast.Name)
                and part.value.id == row
            ):
                return True
    return False


def _field_read_before(function: ast.AST, field_name: str, mark: ast.AST, line: int) -> bool:
    """The field is read (``row.sent``, a ``sent=False`` filter keyword) before ``line``."""
    for node in ast.walk(function):
        lineno = getattr(node, "lineno", line)
        if lineno >= line or node is mark:
            continue
        if (
            isinstance(node, ast.Attribute)
            and node.attr == field_name
            and isinstance(node.ctx, ast.Load)
        ):
            return True
        if isinstance(node, ast.keyword) and (node.arg or "").split("__")[0] == field_name:
            return True
    return False
