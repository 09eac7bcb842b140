"""CON009's state claims: a state checked with nothing holding the row, then an effect that
must happen once (money moved, stock released), then the state written."""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext, Severity
from prodready.plugin.analysis import dotted, walk_body

_OPAQUE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_EQUALITY = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)
# Calls that take or send money: a second one is a double charge.
_MONEY_WORDS = frozenset({"charge", "capture", "payout", "refund", "pay", "debit", "withdraw"})
_MONEY_OBJECTS = frozenset({"Charge", "PaymentIntent", "Transfer", "Payout", "Refund"})
# Words of a helper that gives something back or hands it out: run twice, it counts twice.
_ONCE_WORDS = frozenset(
    {"release", "restore", "restock", "refund", "credit", "increment", "decrement", "reserve"}
    | {"allocate", "payout", "reimburse", "return", "unreserve", "deallocate"}
)


def _exits(body: list[ast.stmt]) -> bool:
    last = body[-1] if body else None
    if isinstance(last, ast.Return | ast.Raise):
        return True
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        return (dotted(last.value.func) or "").rsplit(".", 1)[-1] in {"abort", "abort_with"}
    return False


def _own_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
    return [node for node in walk_body(function.body) if not isinstance(node, _OPAQUE)]


def _state_key(expr: ast.expr) -> tuple[str, str] | None:
    """``order.status``, ``session.get("paid")``, ``session["paid"]``: (owner, field)."""
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
        return expr.value.id, expr.attr
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr == "get"
        and isinstance(expr.func.value, ast.Name)
        and expr.args
        and isinstance(expr.args[0], ast.Constant)
        and isinstance(expr.args[0].value, str)
    ):
        return expr.func.value.id, expr.args[0].value
    if (
        isinstance(expr, ast.Subscript)
        and isinstance(expr.value, ast.Name)
        and isinstance(expr.slice, ast.Constant)
        and isinstance(expr.slice.value, str)
    ):
        return expr.value.id, expr.slice.value
    return None


def _state_tests(test: ast.expr) -> list[tuple[str, str]]:
    """The states an exiting ``if`` compares with a constant (``order.status != "pending"``,
    ``session.get("paid") == "1"``; each side of an ``or``)."""
    parts = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or) else [test]
    found: list[tuple[str, str]] = []
    for part in parts:
        if not (isinstance(part, ast.Compare) and len(part.ops) == 1):
            continue
        right = part.comparators[0]
        if not isinstance(part.ops[0], _EQUALITY) or not isinstance(
            right, ast.Constant | ast.Tuple | ast.List | ast.Set
        ):
            continue
        if isinstance(right, ast.Constant) and right.value is None:
            continue
        key = _state_key(part.left)
        if key is not None:
            found.append(key)
    return found


def _moves_money(call: ast.Call, ctx: PythonContext) -> bool:
    if any(keyword.arg in {"idempotency_key", "idempotencyKey"} for keyword in call.keywords):
        return False
    parts = (ctx.qualname(call.func) or "").split(".")
    if parts[0] in {"stripe", "braintree"} and len(parts) >= 3:
        return parts[-2] in _MONEY_OBJECTS
    func = call.func
    last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return bool(set(last.lower().strip("_").split("_")) & _MONEY_WORDS)


def _writes_state(node: ast.AST, owner: str, field: str) -> bool:
    """``order.status = "paid"``, ``session["paid"] = 1``, ``r.hset(key, "paid", "1")``,
    ``Order.objects.filter(...).update(status="paid")``."""
    if isinstance(node, ast.Assign):
        return any(_state_key(target) == (owner, field) for target in node.targets)
    if isinstance(node, ast.Call):
        if any(keyword.arg == field for keyword in node.keywords):
            return method_name(node) in {"update", "aupdate", "hset", "set_status", "save"}
        return method_name(node) in {"hset", "hmset"} and any(
            isinstance(arg, ast.Constant) and arg.value == field for arg in node.args[1:]
        )
    return False


def method_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def state_then_effect(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> bool:
    """``if order.status != "pending": return`` -- ``payments.charge(...)`` -- ``order.status =
    "paid"``: two requests both see the order pending and both charge. Reported at the ``if``
    (high: a double charge); True when reported."""
    # Both reports start at an ``if`` comparing a state with a constant (an exiting check, a
    # guarded transition): a function without one cannot match, and needs no closer look.
    if not any(
        isinstance(node, ast.If) and _state_tests(node.test) for node in walk_body(function.body)
    ):
        return False
    checks: list[tuple[ast.If, tuple[str, str]]] = []
    charged: tuple[ast.If, tuple[str, str], ast.Call] | None = None
    for item in _own_nodes(function):
        if isinstance(item, ast.If) and not _exits(item.body) and _guarded_transition(item, ctx):
            return True
        if charged is None and isinstance(item, ast.If) and _exits(item.body):
            checks.extend((item, key) for key in _state_tests(item.test))
        elif charged is None and isinstance(item, ast.Call) and checks and _moves_money(item, ctx):
            test, key = checks[-1]
            if item.lineno > (test.end_lineno or test.lineno):
                charged = (test, key, item)
        elif charged is not None and _writes_state(item, *charged[1]):
            test, (owner, field), call = charged
            ctx.report(
                test,
                f"`{ctx.segment(test.test)}` is checked with nothing holding the row, then "
                f"{ctx.segment(call.func)}() moves money (line {call.lineno}) before "
                f"{owner}'s {field} is written (line {getattr(item, 'lineno', 0)}): two "
                "concurrent requests both pass the check and both charge. Claim the state "
                f"first with a conditional write (set {field} only where it still holds the "
                "expected value and check the row count; SETNX/SET NX in Redis) or "
                "lock the row, and pass an idempotency key to the provider",
            )
            return True
    return False


def _guarded_transition(test: ast.If, ctx: PythonContext) -> bool:
    """``if booking.status != "cancelled": booking.status = "cancelled"; booking.save();
    release_inventory(...)``: two cancels both see the old state and both release. Reported
    at the ``if`` (high when the effect moves money, medium otherwise); True when reported."""
    keys = _state_tests(test.test)
    if not keys:
        return False
    inner = [node for node in walk_body(test.body) if not isinstance(node, _OPAQUE)]
    for owner, field in keys:
        if not any(_writes_state(node, owner, field) for node in inner):
            continue
        for node in inner:
            if not isinstance(node, ast.Call):
                continue
            money = _moves_money(node, ctx)
            words = set(method_name(node).lower().strip("_").split("_"))
            if not money and not words & _ONCE_WORDS:
                continue
            ctx.report(
                test,
                f"`{ctx.segment(test.test)}` is checked with nothing holding the row, and the "
                f"branch sets {owner}'s {field} and calls {ctx.segment(node.func)}() (line "
                f"{node.lineno}): two concurrent requests both see the old state and both run "
                "it (stock released twice, a refund paid twice). Make the transition "
                f"conditional (update {field} only where it still holds the old value and run "
                "the effect only when one row changed) or lock the row while deciding",
                severity=None if money else Severity.MEDIUM,
            )
            return True
    return False
