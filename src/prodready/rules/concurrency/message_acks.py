"""Concurrency: consumers that acknowledge before processing (CON005)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    ModuleEnd,
    ModuleMemo,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    calls_in,
    has_star_kwargs,
    keyword_value,
    log_call,
    module_value,
)

# -- CON005 ---------------------------------------------------------------------------------------

_KAFKA_CONSUMERS = frozenset(
    {"kafka.KafkaConsumer", "kafka.consumer.KafkaConsumer", "aiokafka.AIOKafkaConsumer"}
    | {"aiokafka.consumer.AIOKafkaConsumer"}
)
_CONFLUENT_CONSUMERS = frozenset(
    {"confluent_kafka.Consumer", "confluent_kafka.DeserializingConsumer"}
    | {"confluent_kafka.cimpl.Consumer"}
)
# Methods of a consumer that hand messages to the application.
_CONSUMER_READS = frozenset({"poll", "getmany", "getone", "consume"})
# pika ``basic_consume(queue, on_message_callback, auto_ack)``, ``basic_get(queue, auto_ack)``.
_AUTO_ACK_POSITIONS = {"basic_consume": 2, "basic_get": 1}
# Calls after an ack that are not the processing of the message.
_NOT_PROCESSING_PREFIXES = ("builtins.", "json.", "time.", "logging.", "datetime.", "uuid.")
_NOT_PROCESSING_METHODS = frozenset(
    {"decode", "encode", "loads", "get", "format", "inc", "observe", "labels", "strip", "split"}
    | {"basic_ack", "basic_nack", "basic_reject", "ack", "nack", "reject", "model_validate"}
)


@dataclass(slots=True)
class _ConsumerState:
    consumers: list[tuple[ast.Call, str]] = field(default_factory=list)
    read: bool = False  # the module iterates or polls a Kafka consumer


def _auto_commit_message(node: ast.Call, name: str, ctx: PythonContext) -> str | None:
    """Why a Kafka consumer commits offsets before the application processed the messages."""
    if has_star_kwargs(node) or any(isinstance(a, ast.Starred) for a in node.args):
        return None
    if name in _KAFKA_CONSUMERS:
        group = keyword_value(node, "group_id")
        if group is None or _is_none(group):
            return None  # no consumer group: no offsets are committed at all
        flag = keyword_value(node, "enable_auto_commit")
        if flag is not None and not (isinstance(flag, ast.Constant) and flag.value is True):
            return None
        short = name.rsplit(".", 1)[-1]
        return (
            f"{short} commits offsets automatically in the background (enable_auto_commit "
            "defaults to True): a message fetched but not yet processed is marked done, and a "
            "crash or deploy loses it. Pass enable_auto_commit=False and commit() after "
            "processing"
        )
    config = node.args[0] if node.args else keyword_value(node, "conf")
    if isinstance(config, ast.Name):
        config = module_value(config.id, ctx)
    if not isinstance(config, ast.Dict) or None in config.keys:
        return None
    settings = {
        key.value: value
        for key, value in zip(config.keys, config.values, strict=True)
        if isinstance(key, ast.Constant) and isinstance(key.value, str)
    }
    if "group.id" not in settings:
        return None
    for key in ("enable.auto.commit", "enable.auto.offset.store"):
        value = settings.get(key)
        if value is not None and not (isinstance(value, ast.Constant) and value.value is True):
            return None  # offsets committed or stored by the application
    return (
        'Consumer config without "enable.auto.commit": False: offsets of polled messages are '
        "committed in the background before they are processed, so a crash or deploy loses "
        'them. Set "enable.auto.commit": False and commit(message) after processing'
    )


def _is_none(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is None


def _auto_ack_flag(node: ast.Call, method: str) -> ast.expr | None:
    """The ``auto_ack=True``/``no_ack=True`` argument of a broker consume call, if any."""
    for item in node.keywords:
        if item.arg in {"auto_ack", "no_ack"} and isinstance(item.value, ast.Constant):
            if item.value.value is True:
                return item.value
            return None
    position = _AUTO_ACK_POSITIONS.get(method)
    if position is not None and position < len(node.args):
        value = node.args[position]
        if isinstance(value, ast.Constant) and value.value is True:
            return value
    return None


def _ack_statement(statement: ast.stmt, params: set[str]) -> ast.Call | None:
    """``ch.basic_ack(...)`` / ``[await] message.ack()`` as a statement of its own."""
    if not isinstance(statement, ast.Expr):
        return None
    value = statement.value
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call) or not isinstance(value.func, ast.Attribute):
        return None
    if value.func.attr == "basic_ack":
        return value
    receiver = value.func.value
    if value.func.attr == "ack" and isinstance(receiver, ast.Name) and receiver.id in params:
        return value
    return None


def _processing_call(statements: list[ast.stmt], ctx: PythonContext) -> ast.Call | None:
    for call in calls_in(statements):
        if log_call(call, ctx) is not None:
            continue
        name = ctx.qualname(call.func) or ""
        if name.startswith(_NOT_PROCESSING_PREFIXES):
            continue
        method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
        if method in _NOT_PROCESSING_METHODS:
            continue
        return call
    return None


@python_rule(
    code="CON005",
    name="consumer-auto-ack-before-processing",
    category=Category.CONCURRENCY,
    severity=Severity.HIGH,
    summary="Message acknowledged or committed before it is processed: a crash loses it",
    calls=(
        *sorted(_KAFKA_CONSUMERS | _CONFLUENT_CONSUMERS),
        "*.basic_consume",
        "*.basic_get",
        "*.consume",
        "*.iterator",
        *(f"*.{method}" for method in sorted(_CONSUMER_READS - {"consume"})),
    ),
    nodes=(ast.For, ast.AsyncFor, FunctionEnd, ModuleEnd),
    fix="Acknowledge after processing: auto_ack=False and ch.basic_ack(...) at the end of the "
    "callback; Kafka enable_auto_commit=False and commit() once the message is handled.",
)
def consumer_auto_ack_before_processing(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags message consumers that acknowledge a message before the application has processed it:
    pika `basic_consume(..., auto_ack=True)` / `basic_get(auto_ack=True)` (and `no_ack=True`,
    also aio-pika's `queue.consume(..., no_ack=True)`), kafka-python `KafkaConsumer` and aiokafka
    `AIOKafkaConsumer` in a consumer group without `enable_auto_commit=False` (when the module
    reads from it), confluent-kafka `Consumer({...})` with a `group.id` but without
    `"enable.auto.commit": False`, and callbacks that call `basic_ack()`/`message.ack()` as
    their first step and only then process the message.

    ## Why it breaks production
    Acknowledging tells the broker the message is done: it is deleted (RabbitMQ) or its offset
    is committed (Kafka). If the worker then crashes, is OOM-killed or is stopped by a deploy
    while processing -- or the processing raises -- the message is gone: an order never
    fulfilled, an email never sent, with nothing left to retry and nothing in a dead-letter
    queue. Auto-ack also removes backpressure: the broker pushes messages as fast as it can.

    ## Example
    ```python
    def on_order(ch, method, properties, body):
        fulfil(json.loads(body))

    channel.basic_consume(queue="orders", on_message_callback=on_order, auto_ack=True)
    ```

    ## Use instead
    ```python
    def on_order(ch, method, properties, body):
        fulfil(json.loads(body))  # idempotent: a redelivery after a crash is harmless
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_qos(prefetch_count=10)
    channel.basic_consume(queue="orders", on_message_callback=on_order)
    ```
    With Kafka: `enable_auto_commit=False`, process, then `consumer.commit()`.
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    state: _ConsumerState = ctx.rule_state(_ConsumerState, module=True)
    if isinstance(node, ast.Module):  # ModuleEnd
        if state.read:
            for call, message in state.consumers:
                ctx.report(call, message, confidence=Confidence.MEDIUM)
        return
    if isinstance(node, ast.For | ast.AsyncFor):
        if ctx.qualname(node.iter) in _KAFKA_CONSUMERS:
            state.read = True
        return
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        _check_early_ack(node, ctx)
        return
    assert isinstance(node, ast.Call)
    name = ctx.call_name or ""
    if name in _KAFKA_CONSUMERS or name in _CONFLUENT_CONSUMERS:
        found = _auto_commit_message(node, name, ctx)
        if found is not None:
            state.consumers.append((node, found))
        return
    func = node.func
    if not isinstance(func, ast.Attribute):
        return
    method = func.attr
    if method in _CONSUMER_READS:
        receiver = ctx.qualname(func.value) or ""
        if receiver in _KAFKA_CONSUMERS or receiver in _CONFLUENT_CONSUMERS:
            state.read = True
        if method != "consume":
            return
    if method not in {"basic_consume", "basic_get", "consume", "iterator"}:
        return
    flag = _auto_ack_flag(node, method)
    if flag is None:
        return
    if method in {"consume", "iterator"} and not any(k.arg == "no_ack" for k in node.keywords):
        return
    ctx.report(
        node,
        f"{method}() with automatic acknowledgement: the broker deletes each message as soon "
        "as it is delivered, so a crash, deploy or exception during processing loses it. "
        "Acknowledge explicitly after processing (basic_ack / message.ack())",
    )


_MENTIONS_ACK: ModuleMemo[bool] = ModuleMemo("CON005:ack", lambda ctx: "ack(" in ctx.source)


def _check_early_ack(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> None:
    scope = ctx.function
    if scope is None or not ctx.memo(_MENTIONS_ACK):
        return
    params = {param.arg for param in scope.params}
    body = node.body
    for index, statement in enumerate(body):
        ack = _ack_statement(statement, params)
        if ack is None:
            continue
        processing = _processing_call(body[index + 1 :], ctx)
        if processing is not None:
            ctx.report(
                ack,
                f"the message is acknowledged before it is processed (line "
                f"{processing.lineno}): if the worker crashes or the processing raises, the "
                "broker has already dropped it. Acknowledge after processing",
                confidence=Confidence.MEDIUM,
            )
        return
