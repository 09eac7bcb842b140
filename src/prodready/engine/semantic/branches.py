"""Which statements of a function can run together: the branches each one sits in."""

from __future__ import annotations

import ast
from collections.abc import Iterable

from prodready.engine.python.nodes import body_nodes, child_nodes

Branch = tuple[int, str, bool]  # (statement id, branch, the branch ends in return/raise)
# What the test of an ``if`` says of one value, when it pins it: ("==", subject, literal) for
# ``subject == "a"``, ("startswith", subject, prefix) for ``subject.startswith("n.")``.
Condition = tuple[str, str, object]
Pins = dict[int, list[Condition]]  # id of an ``if`` -> what its test pins


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
            items.extend((child, path) for child in child_nodes(node))
        stack.extend(reversed(items))
    return found


def exclusive(
    first: tuple[Branch, ...], second: tuple[Branch, ...], pins: Pins | None = None
) -> bool:
    """Two statements (``first`` before ``second`` in the source) that never both run: on two
    branches of one statement, after a branch of the first that returns, or -- given the
    function's ``pins`` -- in the bodies of two ``if`` statements whose tests pin one value to
    values that differ (``if code.startswith("n."):`` ... ``if code.startswith("r."):``)."""
    for a, b in zip(first, second, strict=False):
        if a[0] == b[0] and a[1] != b[1]:
            return True
        if a != b:
            break
    if any(entry[2] and entry not in second for entry in first):
        return True
    if not pins:
        return False
    return any(
        _contradict(pins.get(a[0], ()), pins.get(b[0], ()))
        for a in first
        if a[1] == "body" and a not in second
        for b in second
        if b[1] == "body" and b[0] != a[0]
    )


def pinned_values(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Pins:
    """For each ``if`` of the function whose test pins a plain name (each conjunct of an
    ``and``: ``name == "a"``, ``name.startswith("n.")``) that its body does not assign: what
    the test pins."""
    pins: Pins = {}
    # The function's own statements: :func:`branch_paths` never enters a nested function or
    # class, so the tests of theirs would never be looked up.
    for node in body_nodes(function.body):
        if not isinstance(node, ast.If):
            continue
        test = node.test
        conjuncts = (
            test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) else [test]
        )
        found = [pinned for c in conjuncts if (pinned := _pinned(c)) is not None]
        if found:
            assigned = _assigned_names(node.body)
            kept = [item for item in found if item[1] not in assigned]
            if kept:
                pins[id(node)] = kept
    return pins


def _assigned_names(body: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for statement in body:
        for child in ast.walk(statement):
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
    return names


def _pinned(test: ast.expr) -> Condition | None:
    if (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and isinstance(test.left, ast.Name)
        and isinstance(test.comparators[0], ast.Constant)
        and isinstance(test.comparators[0].value, str | int)
    ):
        return ("==", test.left.id, test.comparators[0].value)
    if (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Attribute)
        and test.func.attr == "startswith"
        and isinstance(test.func.value, ast.Name)
        and len(test.args) == 1
        and not test.keywords
        and isinstance(test.args[0], ast.Constant)
        and isinstance(test.args[0].value, str)
        and test.args[0].value
    ):
        return ("startswith", test.func.value.id, test.args[0].value)
    return None


def _contradict(first: Iterable[Condition], second: Iterable[Condition]) -> bool:
    """One value pinned by two tests to values that cannot both hold."""
    later = list(second)
    return any(_incompatible(a, b) for a in first for b in later if a[1] == b[1])


def _incompatible(a: Condition, b: Condition) -> bool:
    if a[0] == "==" and b[0] == "==":
        return a[2] != b[2]
    if a[0] == "startswith" and b[0] == "startswith":
        x, y = str(a[2]), str(b[2])
        return not x.startswith(y) and not y.startswith(x)
    equal, prefix = (a, b) if a[0] == "==" else (b, a)
    return not (isinstance(equal[2], str) and equal[2].startswith(str(prefix[2])))
