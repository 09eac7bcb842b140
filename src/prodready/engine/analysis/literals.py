"""Literal values and dotted names of AST nodes."""

from __future__ import annotations

import ast


def constant(expr: ast.AST | None) -> object:
    return expr.value if isinstance(expr, ast.Constant) else None


def constant_str(expr: ast.AST | None) -> str | None:
    value = constant(expr)
    return value if isinstance(value, str) else None


def is_true(expr: ast.AST | None) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is True


def is_false(expr: ast.AST | None) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is False


def is_none(expr: ast.AST | None) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is None


def is_literal(expr: ast.AST | None) -> bool:
    """A value fully known at analysis time (constants and containers of constants)."""
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Tuple | ast.List | ast.Set):
        return all(is_literal(element) for element in expr.elts)
    if isinstance(expr, ast.Dict):
        return all(k is None or is_literal(k) for k in expr.keys) and all(
            is_literal(v) for v in expr.values
        )
    return False


def dotted(expr: ast.AST | None) -> str | None:
    """The dotted text of a Name/Attribute chain, without resolving anything."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return ".".join(reversed(parts))
    return None


def root_name(expr: ast.AST | None) -> str | None:
    """``a`` for ``a.b[c].d()``."""
    while True:
        if isinstance(expr, ast.Attribute | ast.Subscript):
            expr = expr.value
        elif isinstance(expr, ast.Call):
            expr = expr.func
        elif isinstance(expr, ast.Name):
            return expr.id
        else:
            return None
