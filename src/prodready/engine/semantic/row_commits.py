"""Two session commits that each store fields of one and the same row: one row written twice.

A session's ``commit()`` ends a transaction of whatever was staged before it, so two commits are
normally one change split in two (DAT003). When nothing is staged but fields of one object --
set in the statements of each commit's own block, just before it -- and no row is added,
merged, deleted or written by a statement before the later commit, each commit leaves a state
that row can have alone: the same as two saves of one Django row, which are independent.
"""

from __future__ import annotations

import ast

from prodready.engine.analysis.literals import dotted

# Session and connection calls that stage or run a change besides the fields set on an object.
_STAGING = frozenset(
    {"add", "add_all", "merge", "delete", "execute", "bulk_save_objects", "bulk_insert_mappings"}
    | {"bulk_update_mappings", "save", "create", "update", "executemany"}
)
# Roots of calls that only report (logging), which stage nothing.
_REPORTING_ROOTS = frozenset({"logger", "logging", "log", "LOGGER", "_logger", "LOG"})


def one_row_committed_twice(
    function: ast.FunctionDef | ast.AsyncFunctionDef, writes: list[ast.Call], pair: tuple[int, int]
) -> bool:
    """The pair of ``writes`` are commits, each preceded in its block only by field assignments
    of the same object (and log lines), with nothing else staged before the later one; every
    other write is in an exception handler (another path, not part of this change)."""
    first, second = writes[pair[0]], writes[pair[1]]
    if not (_commit(first) and _commit(second)):
        return False
    parents = {
        id(child): node for node in ast.walk(function) for child in ast.iter_child_nodes(node)
    }
    others = [write for index, write in enumerate(writes) if index not in pair]
    if not all(_in_handler(write, parents) for write in others):
        return False
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _STAGING
            and node.lineno < second.lineno
        ):
            return False
    changed = {_fields_set_before(commit, parents) for commit in (first, second)}
    return len(changed) == 1 and None not in changed


def _in_handler(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    current = parents.get(id(node))
    while current is not None:
        if isinstance(current, ast.ExceptHandler):
            return True
        current = parents.get(id(current))
    return False


def _commit(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Attribute) and call.func.attr == "commit" and not call.args


def _fields_set_before(commit: ast.Call, parents: dict[int, ast.AST]) -> str | None:
    """The object whose fields the statements before ``commit`` in its block set (back to the
    block's start or an earlier commit); None when they do anything else."""
    statement = parents.get(id(commit))
    block = _block_of(statement, parents)
    if statement is None or block is None:
        return None
    owner: str | None = None
    for earlier in reversed(block[: block.index(statement)]):  # type: ignore[arg-type]
        if isinstance(earlier, ast.Expr) and isinstance(earlier.value, ast.Call):
            if _commit(earlier.value):
                break
            root = (dotted(earlier.value.func) or "").split(".", 1)[0]
            if root in _REPORTING_ROOTS:
                continue
            return None
        targets = _assigned(earlier)
        if targets is None:
            return None
        for target in targets:
            if not isinstance(target, ast.Attribute) or not isinstance(target.value, ast.Name):
                return None
            if owner is not None and owner != target.value.id:
                return None
            owner = target.value.id
    return owner


def _assigned(statement: ast.stmt) -> list[ast.expr] | None:
    if isinstance(statement, ast.Assign):
        return list(statement.targets)
    if isinstance(statement, ast.AugAssign | ast.AnnAssign):
        return [statement.target]
    return None


def _block_of(statement: ast.AST | None, parents: dict[int, ast.AST]) -> list[ast.stmt] | None:
    """The statement list holding ``statement`` (a body, an else, a handler's body)."""
    if not isinstance(statement, ast.Expr):
        return None
    holder = parents.get(id(statement))
    for name in ("body", "orelse", "finalbody"):
        block = getattr(holder, name, None)
        if isinstance(block, list) and any(item is statement for item in block):
            return block
    return None
