"""Resilience: AMQP settlement that puts a failed message back forever (RES013) and connections
that never notice a dead broker (RES014), from the clients' documented defaults.

- pika ``basic_nack(delivery_tag, multiple, requeue=True)`` and ``basic_reject(delivery_tag,
  requeue=True)`` requeue by default; aio-pika ``message.nack(multiple, requeue=True)`` too,
  while aio-pika and kombu ``message.reject(requeue=False)`` do not; kombu ``message.requeue()``
  always does; aio-pika ``message.process(requeue=True)`` requeues on every exception.
- ``heartbeat=0`` turns AMQP heartbeats off in pika, aio-pika/aiormq (URL query), kombu and
  Celery (``broker_heartbeat``).
"""

from __future__ import annotations

import ast
import re

from prodready.plugin import PythonContext
from prodready.plugin.analysis import argument, catches_broadly, caught_names, has_star_kwargs

# method -> (position of ``requeue``, its default)
_REQUEUE_ARGUMENT: dict[str, tuple[int, bool]] = {
    "basic_nack": (2, True),
    "basic_reject": (1, True),
    "nack": (1, True),
    "reject": (0, False),
}
_AMQP_MODULES = ("pika", "aio_pika", "aiormq", "kombu", "amqpstorm", "rabbitpy")
# Exceptions that say the message itself is bad: requeueing it cannot help.
_PERMANENT = frozenset(
    {"ValueError", "KeyError", "TypeError", "JSONDecodeError", "ValidationError"}
    | {"UnicodeDecodeError", "DecodeError", "UnpicklingError"}
)
# Evidence that redeliveries are counted or bounded somewhere in the consumer.
_ATTEMPT_EVIDENCE = re.compile(
    r"redeliver|attempt|retries|retry_count|delivery_count|x-death|x-delivery-limit"
    r"|x-retry|dead.?letter|dlq|dlx",
    re.IGNORECASE,
)


def _amqp_module(ctx: PythonContext) -> bool:
    return any(
        f"import {module}" in ctx.source or f"from {module}" in ctx.source
        for module in _AMQP_MODULES
    )


def _requeues(call: ast.Call, method: str) -> bool | None:
    """True when the call requeues (explicitly or by default), None when it cannot be told."""
    if has_star_kwargs(call):
        return None
    if method == "requeue":
        return True
    if method == "process":
        value = argument(call, 0, "requeue")
        return isinstance(value, ast.Constant) and value.value is True
    position, default = _REQUEUE_ARGUMENT[method]
    value = argument(call, position, "requeue")
    if value is None:
        return default
    if isinstance(value, ast.Constant) and isinstance(value.value, bool):
        return value.value
    return None  # decided at run time: a redelivery count, the kind of error


def _failure_for_any_reason(handler: ast.ExceptHandler, ctx: PythonContext) -> str | None:
    if catches_broadly(handler, ctx):
        return "every failure"
    names = [name.rsplit(".", 1)[-1] for name in caught_names(handler, ctx)]
    bad = [name for name in names if name in _PERMANENT]
    return f"a {bad[0]} (a message that can never be processed)" if bad else None


def requeued_forever(call: ast.Call, ctx: PythonContext) -> str | None:
    """Why ``call`` puts a failed message back on the queue with nothing bounding the
    redeliveries, or None."""
    func = call.func
    if not isinstance(func, ast.Attribute) or not _amqp_module(ctx):
        return None
    method = func.attr
    if method not in _REQUEUE_ARGUMENT and method not in {"requeue", "process"}:
        return None
    if method == "requeue" and "kombu" not in ctx.source:
        return None
    if not _requeues(call, method):
        return None
    function = ctx.function
    if function is None or _ATTEMPT_EVIDENCE.search(ctx.segment(function.node)):
        return None
    if "x-delivery-limit" in ctx.source:
        return None  # a quorum queue drops a message after that many deliveries
    if method == "process":
        return "message.process(requeue=True) puts the message back on every exception"
    if not ctx.handlers:
        return None
    why = _failure_for_any_reason(ctx.handlers[-1], ctx)
    if why is None:
        return None
    return f"{method}() requeues the message on {why}"


_HEARTBEAT_KEYWORDS = frozenset({"heartbeat", "heartbeat_interval"})
_CELERY_HEARTBEATS = frozenset({"broker_heartbeat", "BROKER_HEARTBEAT", "CELERY_BROKER_HEARTBEAT"})
_URL_HEARTBEAT_OFF = re.compile(r"^amqps?://\S*[?&]heartbeat(?:_interval)?=0(?:&|$)")


def _zero(value: ast.expr | None) -> bool:
    return (
        isinstance(value, ast.Constant) and type(value.value) in {int, float} and value.value == 0
    )


def disabled_heartbeat(call: ast.Call) -> ast.expr | None:
    """The ``heartbeat=0`` keyword of an AMQP connection call, if any."""
    for item in call.keywords:
        if item.arg in _HEARTBEAT_KEYWORDS and _zero(item.value):
            return item.value
    return None


def heartbeat_setting(node: ast.AST, ctx: PythonContext) -> str | None:
    """What turns heartbeats off at ``node``: ``params.heartbeat = 0``, ``broker_heartbeat =
    0``, an ``amqp://...?heartbeat=0`` URL; else None."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str) and _URL_HEARTBEAT_OFF.match(node.value):
            return "heartbeat=0 in the broker URL"
        return None
    if not isinstance(node, ast.Assign) or not _zero(node.value):
        return None
    for target in node.targets:
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
        if name in _CELERY_HEARTBEATS:
            return f"{name} = 0"
        if name in _HEARTBEAT_KEYWORDS and isinstance(target, ast.Attribute) and _amqp_module(ctx):
            return f"{ctx.segment(target)} = 0"
    return None


_LATE_ACKS = frozenset({"task_acks_late", "CELERY_TASK_ACKS_LATE", "CELERY_ACKS_LATE"})


def late_acks_without_prefetch_limit(node: ast.Assign, ctx: PythonContext) -> bool:
    """``task_acks_late = True`` (a Celery setting or ``app.conf.task_acks_late``) in a module
    that never sets the worker's prefetch multiplier."""
    if not (isinstance(node.value, ast.Constant) and node.value.value is True):
        return False
    if "prefetch_multiplier" in ctx.source.lower():
        return False
    for target in node.targets:
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
        if name in _LATE_ACKS:
            return True
    return False
