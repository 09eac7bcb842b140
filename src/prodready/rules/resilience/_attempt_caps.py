"""What a retry handler lets through (RES002): the cap test of its failure counter (``if
tries_left == 0: raise``, ``if failures >= 2 or permanent: raise``) and the exceptions it does
not re-raise at once (``if not isinstance(error.__cause__, IntegrityError): raise``)."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable

from prodready.plugin import PythonContext
from prodready.plugin.analysis import dotted

_COMPARISONS: dict[type[ast.cmpop], Callable[[int, int], bool]] = {
    ast.Eq: operator.eq,
    ast.LtE: operator.le,
    ast.Lt: operator.lt,
    ast.GtE: operator.ge,
    ast.Gt: operator.gt,
}


def cap_test(test: ast.expr, counter: str) -> tuple[Callable[[int, int], bool], int] | None:
    """``counter == 0``, ``counter >= 2``, ``not counter`` -- alone or as one operand of an
    ``or`` (other reasons to give up may be checked beside it)."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        for value in test.values:
            found = cap_test(value, counter)
            if found is not None:
                return found
        return None
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return (operator.eq, 0) if dotted(test.operand) == counter else None
    if (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == counter
        and len(test.ops) == 1
        and type(test.ops[0]) in _COMPARISONS
        and isinstance(test.comparators[0], ast.Constant)
        and type(test.comparators[0].value) is int
    ):
        return _COMPARISONS[type(test.ops[0])], test.comparators[0].value
    return None


def reraises_all_but(handler: ast.ExceptHandler, ctx: PythonContext) -> list[str]:
    """The exception types a handler keeps when it starts by re-raising everything else:
    ``if not isinstance(error, T): raise`` (or ``error.__cause__`` / ``__context__``: a
    wrapper around the driver's error); [] when it does not start so."""
    if handler.name is None or not handler.body or not isinstance(handler.body[0], ast.If):
        return []
    guard = handler.body[0]
    test = guard.test
    if not (
        isinstance(test, ast.UnaryOp)
        and isinstance(test.op, ast.Not)
        and isinstance(test.operand, ast.Call)
        and dotted(test.operand.func) == "isinstance"
        and len(test.operand.args) == 2
        and len(guard.body) == 1
        and isinstance(guard.body[0], ast.Raise)
        and not guard.orelse
    ):
        return []
    subject, types = test.operand.args
    allowed = {handler.name, f"{handler.name}.__cause__", f"{handler.name}.__context__"}
    if dotted(subject) not in allowed:
        return []
    listed = types.elts if isinstance(types, ast.Tuple) else [types]
    names = [ctx.qualname(item) or dotted(item) for item in listed]
    return [name for name in names if name is not None] if all(names) else []
