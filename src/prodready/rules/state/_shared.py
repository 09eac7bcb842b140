"""State: analysis several state rules share."""

from __future__ import annotations

import ast


def _state_root(expr: ast.expr) -> ast.Name | None:
    """``STATE`` for ``STATE``, ``STATE[k]``, ``STATE[k][j]``."""
    while isinstance(expr, ast.Subscript):
        expr = expr.value
    return expr if isinstance(expr, ast.Name) else None
