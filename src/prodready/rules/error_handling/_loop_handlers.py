"""Error handling: broad handlers of long-running message loops and tasks that neither log nor
re-raise (ERR008) -- a websocket receive loop, a broker consumer loop or callback, a task whose
retries the handler defeats.

ERR001 owns the handlers that do nothing at all (``pass``, ``continue``); these handlers do
something -- clean up, acknowledge the message, mark a record -- and the error itself is lost.
"""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext
from prodready.plugin.analysis import (
    dependency_call,
    is_none,
    keyword_value,
    log_call,
    message_loop,
    task_decorator,
    walk_body,
)

_WEBSOCKET_RECEIVES = frozenset(
    {"receive_text", "receive_json", "receive_bytes", "iter_text", "iter_json", "iter_bytes"}
    | {"receive", "recv", "receive_str"}
)
_SOCKET_WORDS = ("websocket", "ws", "socket", "sock", "conn")
_SETTLES = frozenset({"basic_ack", "ack", "commit", "xack", "delete_message"})
_REPORTERS = ("sentry_sdk.", "traceback.", "rollbar.", "bugsnag.")
_RETRY_OPTIONS = frozenset({"autoretry_for", "max_retries", "retry_backoff", "retry_kwargs"})


def _does_nothing(body: list[ast.stmt]) -> bool:
    """ERR001's shape: pass, ..., continue, print(...), return None."""
    for statement in body:
        if isinstance(statement, ast.Pass | ast.Continue):
            continue
        if isinstance(statement, ast.Return) and (
            statement.value is None or is_none(statement.value)
        ):
            continue
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue
        if (
            isinstance(statement, ast.Expr)
            and isinstance(statement.value, ast.Call)
            and isinstance(statement.value.func, ast.Name)
            and statement.value.func.id == "print"
        ):
            continue
        return False
    return True


def loses_the_error(handler: ast.ExceptHandler, ctx: PythonContext, *, logs_count: bool) -> bool:
    """The handler re-raises nothing, retries nothing, reports nothing and never reads the
    exception; with ``logs_count`` a logging call counts as keeping it."""
    if _does_nothing(handler.body):
        return False  # ERR001's
    for node in walk_body(handler.body):
        if isinstance(node, ast.Raise):
            return False
        if isinstance(node, ast.Name) and handler.name is not None and node.id == handler.name:
            if not logs_count:
                continue  # printed or stored as text: still not handled
            return False
        if isinstance(node, ast.Call):
            if logs_count and log_call(node, ctx) is not None:
                return False
            name = ctx.qualname(node.func) or ""
            if name.startswith(_REPORTERS):
                return False
            if isinstance(node.func, ast.Attribute) and node.func.attr in {"retry", "nack"}:
                return False
    return True


_CHANNELS_RECEIVERS = frozenset({"receive", "receive_json", "websocket_receive", "connect"})


def _channels_receiver(ctx: PythonContext) -> bool:
    """A Django Channels consumer's ``receive``/``receive_json``: the framework's receive loop
    calls it once per frame."""
    function = ctx.function
    if function is None or function.name not in _CHANNELS_RECEIVERS:
        return False
    owner = function.class_info
    return owner is not None and any(
        base.rsplit(".", 1)[-1].endswith("WebsocketConsumer") for base in owner.bases
    )


def websocket_loop(statements: list[ast.stmt], ctx: PythonContext) -> bool:
    """The block receives from a websocket (``await websocket.receive_text()``, ``async for
    msg in ws``, a Channels consumer's ``receive``) or runs a broker consumer loop."""
    if _channels_receiver(ctx):
        return True
    for node in walk_body(statements):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = ast.unparse(node.func.value).lower()
            if node.func.attr in _WEBSOCKET_RECEIVES and any(
                word in receiver for word in _SOCKET_WORDS
            ):
                return True
        elif isinstance(node, ast.AsyncFor):
            source = ast.unparse(node.iter).lower()
            if "websocket" in source or source in {"ws", "socket"}:
                return True
        if isinstance(node, ast.While | ast.For | ast.AsyncFor) and message_loop(node, ctx):
            return True
    return False


def settles_message(handler: ast.ExceptHandler) -> ast.Call | None:
    """``channel.basic_ack(...)``/``message.ack()``/``consumer.commit()`` in the handler."""
    for node in walk_body(handler.body):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _SETTLES
        ):
            receiver = ast.unparse(node.func.value).lower()
            if node.func.attr != "commit" or "consumer" in receiver:
                return node
    return None


_DIVERTS = ("nack", "reject", "requeue", "dead", "dlq", "retry", "publish", "produce", "send")


def diverts(handler: ast.ExceptHandler) -> bool:
    """The handler hands the failed message on (a nack, a dead-letter publish, a retry queue)."""
    return any(
        isinstance(node, ast.Call)
        and any(word in (ast.unparse(node.func).rsplit(".", 1)[-1].lower()) for word in _DIVERTS)
        for node in walk_body(handler.body)
    ) or any(isinstance(node, ast.Raise) for node in walk_body(handler.body))


def acked_after(node: ast.Try, handler: ast.ExceptHandler, ctx: PythonContext) -> ast.Call | None:
    """The handler falls through and the next statement after the ``try`` acks the message
    (or the ``try`` is the block of aio-pika's ``async with message.process():``)."""
    if any(
        isinstance(inner, ast.Return | ast.Raise | ast.Continue | ast.Break)
        for inner in walk_body(handler.body)
    ):
        return None
    parent = ctx.parents().get(id(node))
    if isinstance(parent, ast.With | ast.AsyncWith):
        for item in parent.items:
            manager = item.context_expr
            if (
                isinstance(manager, ast.Call)
                and isinstance(manager.func, ast.Attribute)
                and manager.func.attr == "process"
                and "message" in ast.unparse(manager.func.value).lower()
            ):
                return manager  # aio-pika acks when the block ends without an exception
    for field in ("body", "orelse", "finalbody"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and node in block:
            following = block[block.index(node) + 1 : block.index(node) + 2]
            if following and isinstance(following[0], ast.Expr):
                value = following[0].value
                value = value.value if isinstance(value, ast.Await) else value
                if isinstance(value, ast.Call):
                    holder = ast.ExceptHandler(type=None, name=None, body=[ast.Expr(value)])
                    return settles_message(holder)
    if node.finalbody:
        holder = ast.ExceptHandler(type=None, name=None, body=node.finalbody)
        return settles_message(holder)
    return None


def retrying_task(ctx: PythonContext) -> str | None:
    """The retries a Celery task declares (``max_retries=3``, ``autoretry_for=...``) or uses
    (``self.retry(...)``), when the handler's function is such a task."""
    function = ctx.function
    if function is None:
        return None
    decorator = task_decorator(function.node, ctx)
    if decorator is None:
        return None
    if isinstance(decorator, ast.Call):
        for option in sorted(_RETRY_OPTIONS):
            value = keyword_value(decorator, option)
            if value is not None and not (
                isinstance(value, ast.Constant) and value.value in (0, False)
            ):
                return f"{option}={ast.unparse(value)}"
    for node in ast.walk(function.node):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "retry"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "self"
        ):
            return "self.retry()"
    return None


def retried_before(node: ast.Try, handler: ast.ExceptHandler, ctx: PythonContext) -> bool:
    """An earlier clause of ``node`` catches every exception the task's ``autoretry_for``
    names and re-raises it (``raise``, ``raise self.retry(...)``): none of them reaches
    ``handler``."""
    function = ctx.function
    decorator = task_decorator(function.node, ctx) if function is not None else None
    retried = keyword_value(decorator, "autoretry_for") if isinstance(decorator, ast.Call) else None
    if not isinstance(retried, ast.Tuple | ast.List) or not retried.elts:
        return False
    wanted = {ctx.qualname(element) or ast.unparse(element) for element in retried.elts}
    for earlier in node.handlers[: node.handlers.index(handler)]:
        if earlier.type is None or not any(isinstance(n, ast.Raise) for n in ast.walk(earlier)):
            continue
        caught = earlier.type.elts if isinstance(earlier.type, ast.Tuple) else [earlier.type]
        wanted -= {ctx.qualname(element) or ast.unparse(element) for element in caught}
    return not wanted


def guards_dependency(node: ast.Try, ctx: PythonContext) -> bool:
    return dependency_call(node.body, ctx) is not None
