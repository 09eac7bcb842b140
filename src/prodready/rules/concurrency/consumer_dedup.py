"""Concurrency: a message handler that inserts a row per message with no deduplication
(CON014)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    ModuleMemo,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    dotted,
    is_script,
    is_true,
    keyword_value,
    runs_consumer,
    walk_body,
)
from prodready.rules.concurrency._unique_columns import (
    UNIQUE_SETS,
    establish_unique_sets,
    moot_unless,
)

_OPAQUE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
# Broker calls that register a callback for each message (aio-pika, pika, nats, redis pubsub,
# google pubsub, kombu).
_REGISTERS = frozenset({"consume", "basic_consume", "subscribe", "register_callback"})
_CALLBACK_KEYWORDS = frozenset({"on_message_callback", "callback", "cb", "handler"})
_MESSAGE_TYPES = re.compile(r"IncomingMessage|ConsumerRecord|\bMsg\b|ReceivedMessage|Delivery")
# Anything that makes a second delivery harmless: a key the database refuses twice, a
# processed-message record, a look for the row first, a state that says it was done.
_DEDUP = re.compile(
    r"get_or_create|update_or_create|on_conflict|ON\s+CONFLICT|INSERT\s+IGNORE|IntegrityError|"
    r"UniqueViolation|DuplicateKey|\.exists\(|one_or_none|\.first\(\)|processed|dedup|idempot|"
    r"already|seen_|\.status\s*(==|!=|in\b|not\s+in\b)|merge\(|upsert|setnx|SET\s+NX|nx=True",
    re.I,
)


def _handlers(ctx: PythonContext) -> frozenset[str]:
    """Names of the module's functions that run once per message, and the module functions
    they call (the work is often in a helper: ``apply_assessment(payload)``)."""
    functions = {
        node.name: node
        for node in ctx.nodes()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    found: set[str] = set()
    for node in ctx.nodes():
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in _REGISTERS:
                for argument in [*node.args, *(k.value for k in node.keywords)]:
                    name = dotted(argument) or ""
                    if name.rsplit(".", 1)[-1] in functions:
                        found.add(name.rsplit(".", 1)[-1])
            for keyword in node.keywords:
                if keyword.arg in _CALLBACK_KEYWORDS:
                    name = (dotted(keyword.value) or "").rsplit(".", 1)[-1]
                    if name in functions:
                        found.add(name)
    for name, function in functions.items():
        arguments = function.args.posonlyargs + function.args.args
        annotated = any(
            a.annotation is not None and _MESSAGE_TYPES.search(ast.unparse(a.annotation))
            for a in arguments
        )
        if annotated or runs_consumer(function.body, ctx) or _redelivered_task(function):
            found.add(name)
    frontier = set(found)
    for _ in range(2):  # the handler's helpers, and theirs
        called: set[str] = set()
        for name in frontier:
            for inner in walk_body(functions[name].body):
                if isinstance(inner, ast.Call):
                    callee = (dotted(inner.func) or "").rsplit(".", 1)[-1]
                    if callee in functions and callee not in found:
                        called.add(callee)
        found |= called
        frontier = called
    return frozenset(found)


_HANDLERS: ModuleMemo[frozenset[str]] = ModuleMemo("CON014:handlers", _handlers)


def _redelivered_task(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A Celery task declared ``acks_late=True``: a worker lost mid-task gets it again."""
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call):
            late = keyword_value(decorator, "acks_late")
            if late is not None and is_true(late):
                return True
    return False


def _inserted(call: ast.Call) -> tuple[str, set[str]] | None:
    """(model, columns) of a row a call inserts: ``session.add(Model(...))``,
    ``Model.objects.create(...)``, ``collection.insert_one(...)``."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    if func.attr == "add" and len(call.args) == 1 and isinstance(call.args[0], ast.Call):
        built = call.args[0]
        name = (dotted(built.func) or "").rsplit(".", 1)[-1]
        if name[:1].isupper():
            return name, {k.arg for k in built.keywords if k.arg}
    if func.attr in {"create", "acreate"} and isinstance(func.value, ast.Attribute):
        manager = func.value
        if manager.attr == "objects" and isinstance(manager.value, ast.Name):
            return manager.value.id, {k.arg for k in call.keywords if k.arg}
    if func.attr in {"insert_one", "insert"} and call.args:
        return (dotted(func.value) or "collection"), set()
    return None


@python_rule(
    code="CON014",
    name="consumer-insert-without-dedup",
    category=Category.CONCURRENCY,
    severity=Severity.MEDIUM,
    summary="A message handler inserts a row per message with no deduplication",
    nodes=(FunctionEnd,),
    confidence=Confidence.MEDIUM,
    fix="Make a redelivered message harmless: a unique key on the message/event id (insert "
    "ON CONFLICT DO NOTHING, get_or_create), a processed-messages table checked in the same "
    "transaction, or a state check that skips work already done.",
)
def consumer_insert_without_dedup(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a row inserted (`session.add(Model(...))`, `Model.objects.create(...)`,
    `insert_one(...)`) by a function that runs once per broker message -- a callback given to
    aio-pika/pika/nats `consume`/`basic_consume`/`subscribe`, a function taking an incoming
    message, a Kafka/Redis consumer loop, a Celery task with `acks_late=True` -- or by a
    module helper it calls, when nothing in the handler makes a second delivery harmless: no
    `get_or_create`/ON CONFLICT/IntegrityError handling, no look for an existing row, no
    processed-message record, no state check, and the model declares no unique key over the
    inserted columns.

    ## Why it breaks production
    Brokers deliver at least once: a consumer that crashes or times out before its ack, a
    rebalance, a publisher retry -- and the same message arrives again. Each delivery inserts
    another row: two payouts for one approved claim, two shipments, double-counted events.

    ## Example
    ```python
    async def on_assessment(message: aio_pika.abc.AbstractIncomingMessage):
        data = json.loads(message.body)
        session.add(Payout(claim_id=data["claim_id"], amount=data["payout"]))
    ```

    ## Use instead
    ```python
    stmt = insert(Payout).values(claim_id=data["claim_id"], event_id=data["event_id"], ...)
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["event_id"]))
    ```
    """
    establish_unique_sets(ctx)
    scope = ctx.function
    if scope is None or ctx.facts.is_test or is_script(ctx):
        return
    function = scope.node
    # A finding is an insert of the function's own: without one, neither the module's
    # handlers (a walk of the module, an unparse per annotation) nor its text are needed.
    if not any(
        isinstance(item, ast.Call) and _inserted(item) is not None
        for item in walk_body(function.body)
    ):
        return
    if function.name not in ctx.memo(_HANDLERS):
        return
    if _DEDUP.search(ctx.segment(function)):
        return
    for item in walk_body(function.body):
        if isinstance(item, _OPAQUE) or not isinstance(item, ast.Call):
            continue
        inserted = _inserted(item)
        if inserted is None:
            continue
        model, columns = inserted
        given = columns | {c.removesuffix("_id") for c in columns}
        if given and any(fields <= given for fields in ctx.memo(UNIQUE_SETS).get(model, ())):
            continue
        ctx.report(
            item,
            f"{function.name}() runs for every delivered message and inserts a {model} row "
            "with nothing that recognises a message seen before: a redelivered or duplicated "
            "message (a crash before the ack, a rebalance, a publisher retry) inserts it "
            "again. Key the row on the message/event id with a unique constraint (ON CONFLICT "
            "DO NOTHING / get_or_create) or record processed messages",
            unless=moot_unless(model, given),
        )
        return
