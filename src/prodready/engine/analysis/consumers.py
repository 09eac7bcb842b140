"""Message consumers: calls that block for the next message of a broker, and loops around them."""

from __future__ import annotations

import ast

from prodready.engine.analysis.literals import dotted
from prodready.engine.analysis.walking import walk_body
from prodready.engine.python import PythonContext

# Methods that block for the next message of a broker, whatever the client object is called.
RECEIVE_METHODS = frozenset(
    {"basic_get", "get_message", "blpop", "brpop", "brpoplpush", "blmove", "bzpopmin"}
    | {"bzpopmax", "xread", "xreadgroup", "receive_message", "receive_messages", "next_msg"}
    | {"process_data_events", "getone", "getmany"}
)


# Methods that do so only on a consumer-like receiver (``consumer.poll``, not ``select.poll``).
_POLL_METHODS = frozenset({"poll", "consume", "pull", "fetch", "receive", "listen", "iterator"})


BROKER_MODULES = (
    "confluent_kafka",
    "kafka",
    "aiokafka",
    "pika",
    "aio_pika",
    "aiormq",
    "kombu",
    "redis",
    "nats",
    "google.cloud.pubsub",
    "azure.servicebus",
    "pulsar",
    "stomp",
)


_CONSUMER_WORDS = ("consumer", "subscriber", "subscription", "receiver", "pubsub")


_CONSUMER_TYPES = ("kafka.KafkaConsumer", "aiokafka.AIOKafkaConsumer")


# Calls that hand the process over to a broker client's own consume loop.
_BLOCKING_CONSUMES = frozenset({"start_consuming"})


def receive_call(call: ast.Call, ctx: PythonContext) -> str | None:
    """The name of a call that waits for the next message from a broker (``consumer.poll()``,
    ``channel.basic_get()``, ``r.blpop()``, ``sqs.receive_message()``...), else ``None``."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    name = ctx.qualname(func) or ""
    method = func.attr
    if method in RECEIVE_METHODS:
        return name or method
    receiver = ctx.qualname(func.value) or dotted(func.value) or ""
    lowered = receiver.lower()
    if method in _POLL_METHODS and (
        lowered.startswith(BROKER_MODULES) or any(word in lowered for word in _CONSUMER_WORDS)
    ):
        return name or f"{receiver}.{method}"
    return None


def message_loop(node: ast.AST, ctx: PythonContext) -> str | None:
    """What a loop consumes when it is a message-consumer loop -- ``for message in consumer``
    (a Kafka consumer), ``async for msg in queue.iterator()``, ``while running: consumer.poll()``
    -- else ``None``."""
    if isinstance(node, ast.While):
        for inner in walk_body(node.body):
            if isinstance(inner, ast.Call):
                found = receive_call(inner, ctx)
                if found is not None:
                    return found
        return None
    if isinstance(node, ast.For | ast.AsyncFor):
        source = node.iter
        name = ctx.qualname(source) or dotted(source) or ""
        if name.startswith(_CONSUMER_TYPES) or name.lower().endswith("consumer"):
            return name
        if isinstance(source, ast.Call):
            return receive_call(source, ctx)
    return None


def runs_consumer(statements: list[ast.stmt], ctx: PythonContext) -> str | None:
    """What a block consumes when it runs a message-consumer loop itself (a loop of
    :func:`message_loop`, or ``channel.start_consuming()``): such a function -- even one named
    ``main`` -- is the long-running worker, not a command-line entry point."""
    for node in walk_body(statements):
        if isinstance(node, ast.For | ast.AsyncFor | ast.While):
            found = message_loop(node, ctx)
            if found is not None:
                return found
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _BLOCKING_CONSUMES
        ):
            return ctx.qualname(node.func) or node.func.attr
    return None
