"""Security: module constants the code only compares credentials with and refuses on a match
(a deny-list of known-bad values, not credentials it uses), for SEC002."""

from __future__ import annotations

import ast

from prodready.plugin import (
    ModuleMemo,
    PythonContext,
)
from prodready.plugin.analysis import (
    constant_str,
    dotted,
    name_words,
    secret_name,
)


def refused_constant(where: ast.AST, ctx: PythonContext) -> bool:
    """A module constant the code only compares credentials with -- or hands to a check of
    one -- and refuses on a match (``if password == LEGACY_DEFAULT_PASSWORD: raise ...``): a
    deny-list of a known-bad value, not a credential the code uses."""
    if not isinstance(where, ast.Assign) or ctx.function is not None:
        return False
    refused = ctx.memo(_REFUSED)
    return any(isinstance(t, ast.Name) and t.id in refused for t in where.targets)


_CHECK_WORDS = frozenset({"authenticate", "check", "verify", "validate", "matches"})


def _refused_constants(ctx: PythonContext) -> frozenset[str]:
    constants = {
        target.id
        for statement in ctx.tree.body
        if isinstance(statement, ast.Assign) and constant_str(statement.value)
        for target in statement.targets
        if isinstance(target, ast.Name) and secret_name(target.id)
    }
    if not constants:
        return frozenset()
    parents = ctx.parents()
    other_uses: set[str] = set()
    refused: set[str] = set()
    for node in ast.walk(ctx.tree):
        if not (isinstance(node, ast.Name) and node.id in constants):
            continue
        if not isinstance(node.ctx, ast.Load):
            continue
        parent = parents.get(id(node))
        if isinstance(parent, ast.Compare):
            test_of = parents.get(id(parent))
            if (
                isinstance(test_of, ast.If)
                and test_of.test is parent
                and isinstance(parent.ops[0], ast.Eq)
                and any(isinstance(statement, ast.Raise) for statement in test_of.body)
            ):
                refused.add(node.id)
            continue
        if isinstance(parent, ast.Call) and node in parent.args:
            callee = (dotted(parent.func) or "").rsplit(".", 1)[-1]
            if _CHECK_WORDS.intersection(name_words(callee)):
                continue  # ``store.authenticate_user(name, CONSTANT)``: is it still in use?
        other_uses.add(node.id)
    return frozenset(refused - other_uses)


_REFUSED: ModuleMemo[frozenset[str]] = ModuleMemo("SEC002:refused", _refused_constants)
