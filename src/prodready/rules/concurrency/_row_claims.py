"""CON009's claims: who a state transition hands a row to.

A transition checked without a lock is a race worth reporting when the row ends up belonging
to whoever ran it -- a field set to a value of this request or task (``locker.holder =
request.json["user"]``, ``ride.driver_id = driver_id``), or a new row of this actor pointing at
it (``Ride(rider_id=rider_id, bike_id=bike.id)``): two runs both pass the check and the row is
handed to both. A field set to what the row itself yields (``ride.cost_cents =
ride_cost(ride)``) or to the clock is written the same by every run, and claims nothing.
"""

from __future__ import annotations

import ast

# Where a request handler's caller-supplied values come from besides its parameters.
_REQUEST_ROOTS = frozenset({"request", "current_user", "g", "session", "info"})
_CREATE_CALLS = frozenset({"create", "acreate", "add", "insert", "objects_create"})
_DEPTH = 4


def _assignments(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, list[ast.expr]]:
    """Every value the function assigns to each local name (tuple targets whole)."""
    found: dict[str, list[ast.expr]] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                names = target.elts if isinstance(target, ast.Tuple | ast.List) else [target]
                for name in names:
                    if isinstance(name, ast.Name):
                        found.setdefault(name.id, []).append(node.value)
        elif (
            isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr)
            and isinstance(node.target, ast.Name)
            and node.value is not None
        ):
            found.setdefault(node.target.id, []).append(node.value)
    return found


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    arguments = function.args
    names = [a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs]
    if arguments.vararg is not None:
        names.append(arguments.vararg.arg)
    if arguments.kwarg is not None:
        names.append(arguments.kwarg.arg)
    return {name for name in names if name not in {"self", "cls"}}


def _row_keys(
    function: ast.FunctionDef | ast.AsyncFunctionDef, row: str, assigned: dict[str, list[ast.expr]]
) -> set[str]:
    """The names the row was loaded by (``ride = db.session.get(Ride, ride_id)``: ride_id):
    the row's own key, the same for every run that handles it."""
    keys: set[str] = set()
    for value in assigned.get(row, []):
        keys.update(n.id for n in ast.walk(value) if isinstance(n, ast.Name))
    return keys


def actor_value(
    value: ast.expr, function: ast.FunctionDef | ast.AsyncFunctionDef, row: str
) -> bool:
    """``value`` carries something of this request or task other than the row's own key: a
    parameter, the request, a local computed from one of them."""
    assigned = _assignments(function)
    roots = (_parameters(function) | _REQUEST_ROOTS) - _row_keys(function, row, assigned)
    seen: set[str] = {row}

    def carries(expr: ast.expr, depth: int) -> bool:
        for node in ast.walk(expr):
            if not isinstance(node, ast.Name) or node.id in seen:
                continue
            seen.add(node.id)
            if node.id in roots:
                return True
            if depth < _DEPTH and any(carries(v, depth + 1) for v in assigned.get(node.id, [])):
                return True
        return False

    return carries(value, 0)


def _refers_to(expr: ast.expr, row: str) -> bool:
    """``bike``, ``bike.id``, ``bike.pk``: the row itself or its key."""
    if isinstance(expr, ast.Name):
        return expr.id == row
    return (
        isinstance(expr, ast.Attribute)
        and isinstance(expr.value, ast.Name)
        and expr.value.id == row
        and (expr.attr in {"id", "pk", "uuid"} or expr.attr.endswith("_id"))
    )


def claimed_by_new_row(
    function: ast.FunctionDef | ast.AsyncFunctionDef, row: str, after: int
) -> bool:
    """After line ``after`` the function builds or creates a row that points at ``row`` and at
    a value of this actor (``Ride(rider_id=rider_id, bike_id=bike.id)``,
    ``Loan.objects.create(book=book, member=request.user)``)."""
    for node in ast.walk(function):
        if not isinstance(node, ast.Call) or node.lineno <= after:
            continue
        func = node.func
        if isinstance(func, ast.Name):
            builds = func.id[:1].isupper()
        elif isinstance(func, ast.Attribute):
            builds = func.attr in _CREATE_CALLS or func.attr[:1].isupper()
        else:
            builds = False
        if not builds:
            continue
        values = [k.value for k in node.keywords] + list(node.args)
        if any(_refers_to(v, row) for v in values) and any(
            not _refers_to(v, row) and actor_value(v, function, row) for v in values
        ):
            return True
    return False
