"""API006: quantities and amounts read straight from a raw client mapping in a handler --
``request.get_json()["points"]`` (Flask), ``(await request.json())["hours"]`` (aiohttp,
Starlette), ``request.data["amount"]`` (DRF), ``json.loads(request.body)`` and the form and
query mappings (``request.POST``, ``request.form``, ``request.args``, ``request.GET``,
``request.query_params``, ``request.query``) -- with no bound checked in the handler."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from prodready.plugin.analysis import constant, constant_str, dotted

# Attributes of a request that are mappings the client fills.
_CLIENT_MAPPINGS = frozenset(
    {"json", "data", "POST", "GET", "form", "args", "values", "query_params", "query"}
)
_BODY_METHODS = frozenset({"get_json", "json"})
_NUMBER_CALLS = frozenset({"int", "float", "Decimal", "decimal.Decimal"})
_CLAMPS = frozenset({"min", "max", "clamp", "clip"})
_CONSTANT_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _request_receiver(expr: ast.expr) -> bool:
    return (dotted(expr) or "") in {"request", "self.request", "req"}


def _client_mapping(expr: ast.expr, names: set[str]) -> bool:
    """An expression that evaluates to a mapping the client shaped."""
    if isinstance(expr, ast.Await):
        expr = expr.value
    if isinstance(expr, ast.Name):
        return expr.id in names
    if isinstance(expr, ast.Attribute):
        return expr.attr in _CLIENT_MAPPINGS and _request_receiver(expr.value)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        if expr.func.attr in _BODY_METHODS and _request_receiver(expr.func.value):
            return True
        if expr.func.attr == "loads" and (dotted(expr.func.value) or "") == "json" and expr.args:
            body = expr.args[0]
            if isinstance(body, ast.Call) and isinstance(body.func, ast.Attribute):
                body = body.func.value  # request.body.decode()
            return (
                isinstance(body, ast.Attribute)
                and body.attr == "body"
                and (_request_receiver(body.value))
            )
    return False


def _mapping_names(function: ast.AST) -> set[str]:
    """Local names bound to a client mapping (``data = request.get_json()``), in order."""
    names: set[str] = set()
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and _client_mapping(node.value, names)
        ):
            names.add(node.targets[0].id)
    return names


def _field_read(expr: ast.expr, names: set[str]) -> str | None:
    """The key of ``mapping["key"]`` / ``mapping.get("key", ...)`` on a client mapping."""
    if isinstance(expr, ast.Subscript) and _client_mapping(expr.value, names):
        return constant_str(expr.slice)
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr == "get"
        and expr.args
        and _client_mapping(expr.func.value, names)
    ):
        return constant_str(expr.args[0])
    return None


def unbounded_raw_numbers(
    function: ast.FunctionDef | ast.AsyncFunctionDef, pattern: re.Pattern[str]
) -> Iterator[tuple[ast.stmt, str]]:
    """Statements binding a quantity-named field of a client mapping to a local name
    (converted to a number or not) that the handler never bounds."""
    names = _mapping_names(function)
    if _mapping_handed_on(function, names):
        return
    for node in ast.walk(function):
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            continue
        value = node.value
        if (
            isinstance(value, ast.Call)
            and (dotted(value.func) or "") in _NUMBER_CALLS
            and len(value.args) == 1
        ):
            value = value.args[0]
        key = _field_read(value, names)
        if key is None or not pattern.match(key):
            continue
        local = node.targets[0].id
        if not _bounded(function, local):
            yield node, key


def _mapping_handed_on(function: ast.AST, names: set[str]) -> bool:
    """The whole mapping goes to a call (``schema.load(data)``, ``validate(payload)``,
    ``Form(request.POST)``): something else may check it."""
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        for argument in [*node.args, *(keyword.value for keyword in node.keywords)]:
            if isinstance(argument, ast.Starred):
                argument = argument.value
            if _client_mapping(argument, names) and not _is_number_call(node):
                return True
    return False


def _is_number_call(call: ast.Call) -> bool:
    return (dotted(call.func) or "") in _NUMBER_CALLS


def _bounded(function: ast.AST, local: str) -> bool:
    """The handler compares ``local`` with a limit (``if points <= 0``, ``0 < qty <= MAX``),
    clamps it (``min(qty, 10)``) or hands it to a check (``validate_amount(amount)``)."""
    for node in ast.walk(function):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_is(operand, local) for operand in operands) and any(
                _limit(operand) for operand in operands
            ):
                return True
        elif isinstance(node, ast.Call) and any(_is(arg, local) for arg in node.args):
            callee = (dotted(node.func) or "").rsplit(".", 1)[-1].lower()
            if callee in _CLAMPS or "valid" in callee or "check" in callee:
                return True
    return False


def _is(expr: ast.expr, local: str) -> bool:
    return isinstance(expr, ast.Name) and expr.id == local


def _limit(expr: ast.expr) -> bool:
    """A number literal or a module constant (``MAX_SEATS``)."""
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        expr = expr.operand
    value = constant(expr)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return True
    name = dotted(expr) or ""
    return bool(_CONSTANT_NAME.match(name.rsplit(".", 1)[-1]))
