"""``PythonContext.nodes()``: the module's nodes listed once, in ``ast.walk``'s order.

Rules that look through the whole module iterate it instead of ``ast.walk(ctx.tree)``, so the
list must hold the very nodes ``ast.walk`` yields, in the same order (a rule keeping the first
or last match depends on it), expression contexts and ``match`` patterns included.
"""

from __future__ import annotations

import ast
import textwrap

from prodready.engine.python.module_context import PythonContext
from prodready.engine.python.nodes import remember_bodies, walk_nodes
from prodready.model import Profile

SOURCE = textwrap.dedent(
    """
    import os
    from typing import Any

    LIMIT: int = 10

    class Orders(Base):
        table = "orders"

        def total(self, rows: list[Any]) -> int:
            async def inner():
                async with lock as held:
                    return [x async for x in held if x]
            return sum(row.amount for row in rows if row.amount > LIMIT)

    def route(event):
        match event:
            case {"kind": "order", **rest}:
                return rest
            case Point(x=0, y=y) | [1, *_]:
                return y
        try:
            del os.environ["X"]
        except* (KeyError, OSError) as group:
            raise RuntimeError(f"{group!r:>10}") from None
        lam = lambda a, /, b=1, *c, d, **e: (yield a)
        return lam if (walrus := event) else not walrus
    """
)


def test_nodes_are_the_nodes_of_ast_walk_in_its_order() -> None:
    tree = ast.parse(SOURCE)
    ctx = PythonContext("app/orders.py", SOURCE, tree, Profile())
    expected = list(ast.walk(tree))
    listed = ctx.nodes()
    assert len(listed) == len(expected) == 154
    assert all(mine is theirs for mine, theirs in zip(listed, expected, strict=True))
    assert ctx.nodes() is listed  # listed once per module


def test_walk_nodes_lists_a_function_once_while_the_module_is_walked() -> None:
    tree = ast.parse(SOURCE)
    function = tree.body[-1]
    expected = list(ast.walk(function))
    outside = walk_nodes(function)
    assert all(mine is theirs for mine, theirs in zip(outside, expected, strict=True))
    assert walk_nodes(function) is not outside  # nothing is kept outside a module's walk
    remember_bodies(True)
    try:
        inside = walk_nodes(function)
        assert inside == expected
        assert walk_nodes(function) is inside
    finally:
        remember_bodies(False)
