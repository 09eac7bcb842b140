"""What an ``except`` clause catches."""

from __future__ import annotations

import ast

from prodready.engine.python import PythonContext

BROAD_EXCEPTIONS = frozenset({"builtins.Exception", "builtins.BaseException"})


def caught_names(handler: ast.ExceptHandler, ctx: PythonContext) -> list[str]:
    """Qualified names of the classes an ``except`` clause catches (``[]`` for a bare
    ``except:``). Expressions that are not names (``except self.errors``) are kept as written.
    """
    kind = handler.type
    if kind is None:
        return []
    elements = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    names: list[str] = []
    for element in elements:
        name = ctx.qualname(element) if isinstance(element, ast.Name | ast.Attribute) else None
        names.append(name or ctx.segment(element))
    return names


def catches_broadly(handler: ast.ExceptHandler, ctx: PythonContext) -> bool:
    """``except:``, ``except Exception`` or ``except BaseException`` (also inside a tuple)."""
    if handler.type is None:
        return True
    return any(name in BROAD_EXCEPTIONS for name in caught_names(handler, ctx))
