"""Reading a call's arguments: by position, by keyword, and whether ``*args``/``**kwargs`` may
hold more."""

from __future__ import annotations

import ast


def keyword(call: ast.Call, name: str) -> ast.keyword | None:
    for item in call.keywords:
        if item.arg == name:
            return item
    return None


def keyword_value(call: ast.Call, name: str) -> ast.expr | None:
    item = keyword(call, name)
    return item.value if item is not None else None


def has_keyword(call: ast.Call, *names: str) -> bool:
    return any(item.arg in names for item in call.keywords)


def has_star_kwargs(call: ast.Call) -> bool:
    """``f(**options)``: any keyword may be in there, so absence cannot be proven."""
    return any(item.arg is None for item in call.keywords)


def has_star_args(call: ast.Call) -> bool:
    return any(isinstance(arg, ast.Starred) for arg in call.args)


def argument(call: ast.Call, position: int | None, name: str | None = None) -> ast.expr | None:
    """The argument passed at ``position`` or as keyword ``name``."""
    if name is not None:
        value = keyword_value(call, name)
        if value is not None:
            return value
    if position is not None and position < len(call.args):
        candidate = call.args[position]
        if not isinstance(candidate, ast.Starred):
            return candidate
    return None
