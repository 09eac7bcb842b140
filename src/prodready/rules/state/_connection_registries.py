"""STA001's registries of live connections: a helper adds the websocket (or stream, or client)
it is given to a module-level list or set, and nothing in the module ever removes one. A
socket belongs to one process, so the registry being per process is right -- but a closed
connection stays in it: memory grows with every connection ever made, and every broadcast
writes to dead sockets (raising, or stalling on their buffers)."""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext

CONNECTION_KEY = "connection registered"
_CONNECTION_PARAMS = frozenset(
    {"ws", "websocket", "socket", "sock", "conn", "connection", "client", "subscriber"}
    | {"writer", "stream", "peer", "listener"}
)
_CONNECTION_TYPES = ("WebSocket", "WebSocketResponse", "StreamWriter", "ServerConnection")


def live_connection_added(node: ast.AST, ctx: PythonContext) -> bool:
    """``_subscribers.append(ws)`` / ``clients.add(websocket)`` of a parameter of the enclosing
    function that is a connection (by its annotation or its name)."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"append", "add", "appendleft"}
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Name)
    ):
        return False
    scope = ctx.function
    if scope is None:
        return False
    for param in scope.params:
        if param.arg != node.args[0].id:
            continue
        kind = ctx.qualname(param.annotation) if param.annotation is not None else None
        if kind is not None:
            return kind.endswith(_CONNECTION_TYPES)
        return param.arg.lower() in _CONNECTION_PARAMS
    return False


def connection_registry_message(name: str, function: str, line: int) -> str:
    return (
        f"module-level {name} gets every connection {function}() registers (line {line}) "
        "and nothing in the module ever removes one: closed connections stay in it, so memory "
        "grows with every connection ever made and each broadcast writes to dead sockets. "
        "Remove the connection when it closes (in a finally around the receive loop, or on "
        "send failure)"
    )


def registry_root(node: ast.AST, ctx: PythonContext) -> str | None:
    """The module-level container a method call changes (``_subscribers.append(ws)``,
    ``_subscribers.remove(ws)``)."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    receiver = node.func.value
    if isinstance(receiver, ast.Name) and receiver.id in ctx.facts.mutable_globals:
        return receiver.id
    return None
