"""Resilience: what a message consumer does with a message, in the order it does it (RES012,
RES013, RES014).

A broker forgets a message when the consumer settles it: a Kafka offset committed (or stored
for the auto-committer), an AMQP ``basic_ack``/``message.ack()``, a Redis stream ``XACK``, an
SQS ``delete_message``, an item popped off a Redis list. Settling it before the work that the
message asks for is at-most-once delivery; requeueing it on every failure is at-least-forever.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from prodready.plugin import ModuleMemo, PythonContext
from prodready.plugin.analysis import calls_in, dotted, log_call, receive_call

_KAFKA_CONSUMER_TYPES = (
    "confluent_kafka.Consumer",
    "confluent_kafka.DeserializingConsumer",
    "kafka.KafkaConsumer",
    "aiokafka.AIOKafkaConsumer",
)
# Methods that settle a message or an offset (the message is gone for the broker afterwards).
_OFFSET_SETTLES = frozenset({"commit", "commit_async", "store_offsets"})
_MESSAGE_SETTLES = frozenset({"ack"})
_STREAM_SETTLES = frozenset({"xack", "delete_message", "delete_message_batch"})
# Redis list pops: the item exists nowhere once popped (the reliable forms move it: LMOVE).
LIST_POPS = frozenset({"lpop", "rpop", "blpop", "brpop"})
# Calls on a message that only read or decode it, never the work it asks for.
_NOT_PROCESSING_METHODS = frozenset(
    {"decode", "encode", "loads", "get", "format", "value", "key", "offset", "partition", "topic"}
    | {"headers", "error", "timestamp", "strip", "split", "startswith", "items", "keys", "values"}
    | {"basic_ack", "ack", "commit", "xack", "delete_message", "inc", "observe", "labels"}
)
_NOT_PROCESSING_PREFIXES = ("builtins.", "json.", "time.", "logging.", "datetime.", "uuid.")

BROKER_IMPORTS = (
    "confluent_kafka",
    "kafka",
    "aiokafka",
    "pika",
    "aio_pika",
    "aiormq",
    "kombu",
    "redis",
    "boto3",
    "aioboto3",
    "nats",
)

# Every broker module's name contains one of these: without them the 22 searches for an import
# need not run (most modules).
_BROKER_PARTS = ("kafka", "pika", "aiormq", "kombu", "redis", "boto3", "nats")


def _uses_broker(ctx: PythonContext) -> bool:
    source = ctx.source
    return any(part in source for part in _BROKER_PARTS) and any(
        f"import {module}" in source or f"from {module}" in source for module in BROKER_IMPORTS
    )


_USES_BROKER: ModuleMemo[bool] = ModuleMemo("RES012:broker", _uses_broker)


def uses_broker(ctx: PythonContext) -> bool:
    """The module imports a message-broker client (a cheap gate for the consumer rules)."""
    return ctx.memo(_USES_BROKER)


def statement_call(statement: ast.stmt) -> ast.Call | None:
    """The call a statement makes on its own: ``f(x)``, ``await f(x)``, ``y = [await] f(x)``."""
    value: ast.expr | None = None
    if isinstance(statement, ast.Expr | ast.Assign | ast.AnnAssign):
        value = statement.value
    if isinstance(value, ast.Await):
        value = value.value
    return value if isinstance(value, ast.Call) else None


def _consumer_receiver(receiver: ast.expr, ctx: PythonContext) -> bool:
    name = ctx.qualname(receiver) or ""
    if name.startswith(_KAFKA_CONSUMER_TYPES):
        return True
    return "consumer" in (dotted(receiver) or "").lower()


def settle_call(
    call: ast.Call, message_names: set[str], ctx: PythonContext
) -> tuple[str, set[str]] | None:
    """What ``call`` settles -- ``("offset", names)``, ``("ack", names)``... -- with the names
    of the message it settles, when it settles one; else None."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    method = func.attr
    mentioned = {n.id for arg in call.args for n in ast.walk(arg) if isinstance(n, ast.Name)}
    for item in call.keywords:
        mentioned |= {n.id for n in ast.walk(item.value) if isinstance(n, ast.Name)}
    if method in _OFFSET_SETTLES and _consumer_receiver(func.value, ctx):
        return "offset", mentioned | message_names
    if method == "basic_ack":
        return "ack", mentioned | message_names
    if method in _MESSAGE_SETTLES:
        receiver = func.value
        if isinstance(receiver, ast.Name) and receiver.id in message_names:
            return "ack", {receiver.id} | mentioned
        return None
    if method in _STREAM_SETTLES:
        return method, mentioned | message_names
    return None


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def derived_names(statements: list[ast.stmt], seeds: set[str]) -> set[str]:
    """``seeds`` and every name assigned, in ``statements``, from a value that uses one."""
    names = set(seeds)
    assignments = [
        node
        for statement in statements
        for node in ast.walk(statement)
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign | ast.For | ast.AsyncFor)
    ]
    changed = True
    while changed:
        changed = False
        for node in assignments:
            if isinstance(node, ast.For | ast.AsyncFor):
                value, targets = node.iter, [node.target]
            elif isinstance(node, ast.Assign):
                value, targets = node.value, list(node.targets)
            else:
                if node.value is None:
                    continue
                value, targets = node.value, [node.target]
            if not _names_in(value) & names:
                continue
            for target in targets:
                new = {n.id for n in ast.walk(target) if isinstance(n, ast.Name)} - names
                if new:
                    names |= new
                    changed = True
    return names


def processing_call(
    statements: list[ast.stmt], message: set[str], ctx: PythonContext
) -> ast.Call | None:
    """The first call in ``statements`` that does the work a message asks for: it is given the
    message or something computed from it, and it is not logging, decoding or bookkeeping."""
    names = derived_names(statements, message)
    for call in calls_in(statements):
        if log_call(call, ctx) is not None:
            continue
        qualified = ctx.qualname(call.func) or ""
        if qualified.startswith(_NOT_PROCESSING_PREFIXES):
            continue
        method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
        if method in _NOT_PROCESSING_METHODS:
            continue
        arguments = [*call.args, *(k.value for k in call.keywords)]
        if any(_names_in(argument) & names for argument in arguments):
            return call
    return None


def blocks(node: ast.AST) -> Iterator[list[ast.stmt]]:
    """Every statement list below ``node``, not entering nested functions or classes."""
    stack: list[ast.AST] = [node]
    while stack:
        current = stack.pop()
        for field in ("body", "orelse", "finalbody"):
            value = getattr(current, field, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                yield value
                stack.extend(
                    s
                    for s in value
                    if not isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                )
        if isinstance(current, ast.Try | ast.TryStar):
            stack.extend(current.handlers)
        elif isinstance(current, ast.Match):
            stack.extend(current.cases)


def loop_targets(function: ast.AST) -> set[str]:
    """Names a loop of the function binds (``for msg in consumer``): messages, in a consumer."""
    names: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.For | ast.AsyncFor):
            names |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
    return names


def _queue_get(call: ast.Call) -> bool:
    """``queue.get(...)`` of a kombu ``SimpleQueue`` (or any queue-named receiver)."""
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in {"get", "get_nowait"}
        and "queue" in ast.unparse(func.value).lower()
    )


def received_names(function: ast.AST, ctx: PythonContext) -> set[str]:
    """Names the function binds to what a broker hands it (``msg = consumer.poll(1.0)``,
    ``message = queue.get(...)``)."""
    names: set[str] = set()
    for inner in ast.walk(function):
        if isinstance(inner, ast.Assign):
            received = statement_call(inner)
            if received is not None and (
                receive_call(received, ctx) is not None or _queue_get(received)
            ):
                names |= {
                    n.id for t in inner.targets for n in ast.walk(t) if isinstance(n, ast.Name)
                }
    return names


def process_block_left_early(
    block: ast.With | ast.AsyncWith, rest: list[ast.stmt], messages: set[str], ctx: PythonContext
) -> None:
    """``async with message.process(): payload = decode(message)`` and the work after the
    block: aio-pika acks when the block exits, so the message is settled before the work."""
    for item in block.items:
        call = item.context_expr
        if not (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "process"
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id in messages
        ):
            continue
        message = {call.func.value.id}
        if processing_call(block.body, message, ctx) is not None:
            return  # the work is inside the block: acked after it
        work = processing_call(rest, derived_names(block.body, message), ctx)
        if work is not None:
            ctx.report(
                call,
                f"{ctx.segment(call.func)}() acknowledges the message when its block ends "
                f"(line {block.end_lineno}), before the processing (line {work.lineno}): if the "
                "worker crashes, is stopped by a deploy or the processing raises, the broker "
                "already counts it as done and never redelivers it. Do the work inside the block",
            )
        return
