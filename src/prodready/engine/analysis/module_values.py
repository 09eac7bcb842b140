"""The values names hold: a function's locals and the module's top-level assignments."""

from __future__ import annotations

import ast

from prodready.engine.python import PythonContext


def is_local_name(name: str, ctx: PythonContext) -> bool:
    """``name`` is bound in the function being walked (or an enclosing one), not the module."""
    scope = ctx.function
    while scope is not None:
        if name in scope.bindings and name not in scope.globals:
            return True
        scope = scope.parent
    return False


def module_value(name: str, ctx: PythonContext) -> ast.expr | None:
    """The expression a name holds where it is used: a local's last assignment, else the value
    the module's top-level statements last assigned it (``CONFIG = {...}``,
    ``AWS = Config(...)`` -- values that are not constants and that ``ctx.value_of`` does not
    keep). A scan of the module's top-level statements: ask only for a candidate."""
    value = ctx.value_of(name)
    if value is not None or is_local_name(name, ctx):
        return value
    found: ast.expr | None = None
    for statement in ctx.tree.body:
        if isinstance(statement, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in statement.targets):
                found = statement.value
        elif (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and statement.target.id == name
            and statement.value is not None
        ):
            found = statement.value
    return found
