"""Error handling: what a handler's place says about a swallowed failure (ERR001).

Two facts the shape of the ``try`` alone does not give: a removal in another service is the
work of a function named for removing (not a teardown after it), and a management command's
handler that prints the error tells the operator who runs it.
"""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext, Role
from prodready.plugin.analysis import dependency_call, path_role, walk_body


def told_to_operator(handler: ast.ExceptHandler, ctx: PythonContext) -> bool:
    """A management command's handler that prints or writes the error: whoever runs the
    command (or the cron mail of its output) reads it -- it is reported, not swallowed."""
    if path_role(ctx.path) is not Role.MANAGEMENT_COMMAND:
        return False
    return any(isinstance(n, ast.Call) for n in walk_body(handler.body))


def removal_is_the_work(words: list[str], call: ast.Call, ctx: PythonContext) -> bool:
    """``def delete_episode(): try: s3.delete_object(...)``: a removal in another service by a
    function named for that removal is the work itself, not the teardown after it -- the
    caller is told it was deleted while the object stays."""
    function = ctx.function
    if function is None or not _REMOVALS.intersection(words):
        return False
    if not any(word in function.name.lower() for word in _REMOVALS):
        return False
    return dependency_call([ast.Expr(call)], ctx) is not None


# Verbs of removing a thing (one family: ``remove_webhook`` calling ``requests.delete``);
# closing, stopping and releasing stay teardown whatever the function is called.
_REMOVALS = frozenset({"delete", "remove", "purge", "drop", "unlink", "cancel", "destroy"})
