"""CON002's running totals: a field changed from its own value when the same function also
inserts the change as a row of its own (a ledger kept beside the total)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import ModuleMemo, PythonContext


def self_update(target: ast.expr, value: ast.expr) -> bool:
    """``obj.f = obj.f - n`` / ``obj.f = n + obj.f``."""
    if not isinstance(value, ast.BinOp) or not isinstance(value.op, ast.Add | ast.Sub):
        return False
    wanted = ast.dump(target.value) if isinstance(target, ast.Attribute) else None
    for side in (value.left, value.right):
        if (
            isinstance(side, ast.Attribute)
            and isinstance(target, ast.Attribute)
            and side.attr == target.attr
            and ast.dump(side.value) == wanted
        ):
            return True
    return False


# Inserting a row through a related manager of the updated object: ``card.movements.create(...)``.
_ROW_INSERTS = frozenset({"create", "acreate"})


def kept_row(statement: ast.stmt, name: str, attr: str, ctx: PythonContext) -> ast.Call | None:
    """The call that also inserts the change as a row of its own (a ledger beside the total):
    ``name.<related>.create(...)``, or a method of the same class doing so, carrying the added
    amount (or any row when the total counts by one). Then a lost update leaves the total
    behind rows that are all kept -- unless the function compares the total (it decides
    something: a limit, a balance check) or the module ever subtracts from that field (a
    balance spent down, where a lost update is a double spend)."""
    scope = ctx.function
    assert scope is not None
    delta = _added_amount(statement)
    if delta is None or attr in ctx.memo(_SHRUNK_FIELDS) or _compared(scope.node, name, attr):
        return None
    for node in ast.walk(scope.node):
        if (
            isinstance(node, ast.Call)
            and _carries(node, delta)
            and _inserts_row(node, name, scope.self_name, ctx)
        ):
            return node
    return None


def _added_amount(statement: ast.stmt) -> ast.expr | None:
    """What ``x.f += n`` / ``x.f = x.f + n`` adds (None when it subtracts)."""
    if isinstance(statement, ast.AugAssign):
        return statement.value if isinstance(statement.op, ast.Add) else None
    if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.BinOp):
        value, target = statement.value, statement.targets[0]
        if not isinstance(value.op, ast.Add) or not isinstance(target, ast.Attribute):
            return None
        if isinstance(value.left, ast.Attribute) and value.left.attr == target.attr:
            return value.right
        return value.left
    return None


def _carries(call: ast.Call, amount: ast.expr) -> bool:
    if isinstance(amount, ast.Constant) and amount.value == 1:
        return True  # a count: each inserted row is one
    wanted = ast.dump(amount)
    arguments = [*call.args, *(k.value for k in call.keywords)]
    return any(ast.dump(part) == wanted for arg in arguments for part in ast.walk(arg))


def _related_insert(call: ast.Call, owner: str) -> bool:
    """``owner.<related>.create(...)``: a row of another model, made through a relation."""
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in _ROW_INSERTS
        and isinstance(func.value, ast.Attribute)
        and func.value.attr != "objects"
        and isinstance(func.value.value, ast.Name)
        and func.value.value.id == owner
    )


def _inserts_row(call: ast.Call, name: str, self_name: str | None, ctx: PythonContext) -> bool:
    if _related_insert(call, name):
        return True
    func = call.func
    scope = ctx.function
    if (
        name != self_name
        or scope is None
        or scope.class_info is None
        or not isinstance(func, ast.Attribute)
        or not isinstance(func.value, ast.Name)
        or func.value.id != name
    ):
        return False
    for item in scope.class_info.node.body:  # ``self._record(...)``: a helper of the class
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == func.attr:
            positional = item.args.posonlyargs + item.args.args
            helper_self = positional[0].arg if positional else None
            return helper_self is not None and any(
                isinstance(node, ast.Call) and _related_insert(node, helper_self)
                for node in ast.walk(item)
            )
    return False


def _compared(function: ast.AST, name: str, attr: str) -> bool:
    """``if card.balance < amount``: the function decides something on the total."""
    for node in ast.walk(function):
        if isinstance(node, ast.Compare):
            for part in ast.walk(node):
                if (
                    isinstance(part, ast.Attribute)
                    and part.attr == attr
                    and isinstance(part.value, ast.Name)
                    and part.value.id == name
                ):
                    return True
    return False


def _shrunk_fields(ctx: PythonContext) -> frozenset[str]:
    """Fields the module ever subtracts from (``x.f -= n``, ``x.f = x.f - n``)."""
    found: set[str] = set()
    for node in ast.walk(ctx.tree):
        if (
            isinstance(node, ast.AugAssign)
            and isinstance(node.op, ast.Sub)
            and isinstance(node.target, ast.Attribute)
        ):
            found.add(node.target.attr)
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Attribute)
            and isinstance(node.value, ast.BinOp)
            and isinstance(node.value.op, ast.Sub)
            and self_update(node.targets[0], node.value)
        ):
            found.add(node.targets[0].attr)
    return frozenset(found)


_SHRUNK_FIELDS: ModuleMemo[frozenset[str]] = ModuleMemo("CON002:shrunk", _shrunk_fields)


_TRY_COUNTERS = re.compile(r"attempt|retr(y|ies)|tries|redeliver", re.I)


def own_attempt_counter(
    statement: ast.stmt, name: str, attr: str, load: ast.stmt | None, ctx: PythonContext
) -> bool:
    """``job.attempts += 1`` on the row loaded by a key the function was given, never compared
    here: a count of the function's own tries kept for diagnostics. A counter on a row reached
    through another row (``db.get(Exam, attempt.exam_id)``: a parent every child's run bumps)
    or one the function decides on (``if sub.failed_attempts >= 3``) is not."""
    scope = ctx.function
    if scope is None or load is None or not _TRY_COUNTERS.search(attr):
        return False
    if isinstance(statement, ast.AugAssign):
        step = statement.value
    elif isinstance(statement, ast.Assign) and isinstance(statement.value, ast.BinOp):
        value = statement.value
        step = value.right if isinstance(value.left, ast.Attribute) else value.left
    else:
        return False
    by_one = isinstance(step, ast.Constant) and step.value == 1
    if not by_one or _compared(scope.node, name, attr):
        return False
    arguments = scope.node.args
    given = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
    load_value = load.value if isinstance(load, ast.Assign) else None
    if load_value is None:
        return False
    keys = [
        node
        for node in ast.walk(load_value)
        if isinstance(node, ast.Call)
        for node in [*node.args, *(k.value for k in node.keywords)]
    ]
    return any(isinstance(key, ast.Name) and key.id in given for key in keys) and not any(
        isinstance(key, ast.Attribute) for key in keys
    )
