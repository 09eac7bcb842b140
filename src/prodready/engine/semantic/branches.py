"""Which statements of a function can run together: the branches each one sits in."""

from __future__ import annotations

import ast

Branch = tuple[int, str, bool]  # (statement id, branch, the branch ends in return/raise)


def branch_paths(
    function: ast.FunctionDef | ast.AsyncFunctionDef, wanted: set[int]
) -> dict[int, tuple[Branch, ...]]:
    """For each wanted node: the branches (if/else, try/except, match cases) it sits in."""
    found: dict[int, tuple[Branch, ...]] = {}
    remaining = len(wanted)

    def ends(block: list[ast.stmt]) -> bool:
        return bool(block) and isinstance(block[-1], ast.Return | ast.Raise)

    stack: list[tuple[ast.AST, tuple[Branch, ...]]] = [
        (statement, ()) for statement in reversed(function.body)
    ]
    while stack:
        node, path = stack.pop()
        if id(node) in wanted:
            found[id(node)] = path
            remaining -= 1
            if not remaining:
                break  # the rest of the function holds none of them
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        items: list[tuple[ast.AST, tuple[Branch, ...]]] = []
        if isinstance(node, ast.If):
            items.append((node.test, path))
            body = (*path, (id(node), "body", ends(node.body)))
            orelse = (*path, (id(node), "else", ends(node.orelse)))
            items.extend((s, body) for s in node.body)
            items.extend((s, orelse) for s in node.orelse)
        elif isinstance(node, ast.Try | ast.TryStar):
            body = (*path, (id(node), "body", False))
            items.extend((s, body) for s in [*node.body, *node.orelse])
            for index, handler in enumerate(node.handlers):
                branch = (*path, (id(node), f"except{index}", ends(handler.body)))
                items.extend((s, branch) for s in handler.body)
            items.extend((s, path) for s in node.finalbody)
        elif isinstance(node, ast.Match):
            items.append((node.subject, path))
            for index, case in enumerate(node.cases):
                branch = (*path, (id(node), f"case{index}", ends(case.body)))
                items.extend((s, branch) for s in case.body)
        else:
            items.extend((child, path) for child in ast.iter_child_nodes(node))
        stack.extend(reversed(items))
    return found


def exclusive(first: tuple[Branch, ...], second: tuple[Branch, ...]) -> bool:
    """Two statements (``first`` before ``second`` in the source) that never both run."""
    for a, b in zip(first, second, strict=False):
        if a[0] == b[0] and a[1] != b[1]:
            return True
        if a != b:
            break
    return any(entry[2] and entry not in second for entry in first)


def first_pair_together(
    function: ast.FunctionDef | ast.AsyncFunctionDef, nodes: list[ast.AST]
) -> tuple[int, int] | None:
    """The indexes of the first two of ``nodes`` (in source order) that can both run."""
    paths = branch_paths(function, {id(node) for node in nodes})
    for index, node in enumerate(nodes):
        for other_index in range(index + 1, len(nodes)):
            first, second = paths.get(id(node), ()), paths.get(id(nodes[other_index]), ())
            if not exclusive(first, second):
                return index, other_index
    return None
