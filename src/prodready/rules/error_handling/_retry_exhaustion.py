"""Error handling: retry loops that give up silently (ERR007) -- a counted loop around a call to
another service whose ``try`` breaks out on success and whose handlers only go round again, so
that exhaustion simply ends the loop."""

from __future__ import annotations

import ast
from collections import deque

from prodready.plugin import PythonContext
from prodready.plugin.analysis import dependency_call, dotted, walk_body


def _breaks_out(statements: list[ast.stmt]) -> bool:
    """A ``break`` of the enclosing loop (not of a loop nested in ``statements``)."""
    stack: list[ast.AST] = list(statements)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Break):
            return True
        if isinstance(
            node,
            ast.For
            | ast.AsyncFor
            | ast.While
            | ast.FunctionDef
            | ast.AsyncFunctionDef
            | ast.Lambda,
        ):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


def _counters(loop: ast.For | ast.While) -> set[str]:
    return {
        node.target.id
        for node in walk_body(loop.body)
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name)
    }


def _gives_up_by_break(loop: ast.While) -> bool:
    """``while True:`` whose failure path breaks out once a counter reaches its cap (``if
    attempt >= 3: break``): the loop's end is the give-up, as for a counted loop."""
    counters = _counters(loop)
    return any(
        isinstance(node, ast.If)
        and any(isinstance(n, ast.Name) and n.id in counters for n in ast.walk(node.test))
        and any(isinstance(inner, ast.Break) for inner in node.body)
        for handler in walk_body(loop.body)
        if isinstance(handler, ast.ExceptHandler)
        for node in walk_body(handler.body)
    )


def _counted(loop: ast.For | ast.While, ctx: PythonContext) -> bool:
    """``for attempt in range(n)``, ``while attempts < n`` (a counter the loop counts), or
    ``while True`` that breaks out at a counted cap."""
    if isinstance(loop, ast.While):
        test = loop.test
        if isinstance(test, ast.Constant) and test.value is True:
            return _gives_up_by_break(loop)
        return (
            isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name)
            and isinstance(test.ops[0], ast.Lt | ast.LtE)
            and any(
                isinstance(node, ast.AugAssign)
                and isinstance(node.target, ast.Name)
                and node.target.id == test.left.id
                for node in walk_body(loop.body)
            )
        )
    iterator = loop.iter
    return (
        isinstance(iterator, ast.Call)
        and ctx.qualname(iterator.func) == "builtins.range"
        and bool(iterator.args)
        and not isinstance(iterator.args[-1], ast.Call)
    )


def silent_retry(loop: ast.For | ast.While, ctx: PythonContext) -> ast.Try | None:
    """``for attempt in range(n)`` (or ``while attempts < n``) around a ``try`` that breaks out
    on success and whose every handler goes round again or breaks out (never raises or
    returns): exhaustion leaves the loop quietly."""
    if loop.orelse or not _counted(loop, ctx):
        return None
    for statement in loop.body:
        if not isinstance(statement, ast.Try) or not _breaks_out(statement.body + statement.orelse):
            continue
        for handler in statement.handlers:
            if any(isinstance(node, ast.Raise | ast.Return) for node in walk_body(handler.body)):
                return None
        if dependency_call(statement.body, ctx) is None:
            return None
        return statement
    return None


def _assigned(statements: list[ast.stmt]) -> set[str]:
    """The names and attributes (``order.status``) the statements set: where an attempt may
    record its outcome."""
    found: set[str] = set()
    for node in walk_body(statements):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            found.add(dotted(node) or "")
    found.discard("")
    return found


def _checks(statements: list[ast.stmt], names: set[str]) -> bool:
    """A statement after the loop tests the outcome (``if result is None: raise``, ``if
    order.status != "sent":``)."""
    for node in walk_body(statements):
        if isinstance(node, ast.If | ast.While | ast.Assert) and any(
            (isinstance(part, ast.Name) and part.id in names)
            or (isinstance(part, ast.Attribute) and dotted(part) in names)
            for part in ast.walk(node.test)
        ):
            return True
    return False


_HOLDS_STATEMENTS = (ast.stmt, ast.excepthandler, ast.match_case)


def blocks(function: ast.AST) -> list[list[ast.stmt]]:
    """The statement lists of ``function`` (bodies, ``else:`` and ``finally:`` blocks), in
    ``ast.walk`` order, but visiting only statements: expressions hold none."""
    found: list[list[ast.stmt]] = []
    queue: deque[ast.AST] = deque([function])
    while queue:
        node = queue.popleft()
        if node is function or not isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
        ):
            for field in ("body", "orelse", "finalbody"):
                value = getattr(node, field, None)
                if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                    found.append(value)
        for field in node._fields:
            value = getattr(node, field, None)
            if isinstance(value, list):
                queue.extend(item for item in value if isinstance(item, _HOLDS_STATEMENTS))
    return found


def outcome_checked(loop: ast.For | ast.While, attempt: ast.Try, rest: list[ast.stmt]) -> bool:
    """The code after the loop tests what the attempts produced (or the attempt counter)."""
    outcome = _assigned([*attempt.body, *attempt.orelse, *loop.body])
    counter = loop.target if isinstance(loop, ast.For) else loop.test
    outcome |= {n.id for n in ast.walk(counter) if isinstance(n, ast.Name)}
    return _checks(rest, outcome)
