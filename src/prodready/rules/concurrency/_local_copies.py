"""CON002's read-modify-write through a local copy: ``number = profile.next_number`` then
``profile.next_number = number + 1`` -- the same lost update as ``profile.next_number += 1``,
spelled in two statements (a sequence handing out numbers, a counter read to be returned)."""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext


def update_through_copy(target: ast.expr, value: ast.expr, ctx: PythonContext) -> bool:
    """``obj.f = copy + n`` / ``obj.f = copy - n`` where the local ``copy`` holds ``obj.f``."""
    if not isinstance(target, ast.Attribute) or not isinstance(value, ast.BinOp):
        return False
    if not isinstance(value.op, ast.Add | ast.Sub):
        return False
    for side in (value.left, value.right):
        if not isinstance(side, ast.Name):
            continue
        held = ctx.value_of(side.id)
        if isinstance(held, ast.Attribute) and ast.dump(held) == ast.dump(
            ast.Attribute(value=target.value, attr=target.attr, ctx=ast.Load())
        ):
            return True
    return False
