"""The cap test of a hand-written retry loop's failure counter (RES002): ``if tries_left == 0:
raise``, ``if failures >= 2 or permanent: raise``."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable

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
