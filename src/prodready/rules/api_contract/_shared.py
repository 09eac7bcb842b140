"""API contract: analysis several API-contract rules share."""

from __future__ import annotations

import ast
import http
import re

from prodready.plugin import PythonContext
from prodready.plugin.analysis import constant, dotted

# -- status codes ---------------------------------------------------------------------------------

_STATUS_NAME = re.compile(r"HTTP_(\d{3})")


def _status_code(expr: ast.AST | None, ctx: PythonContext) -> int | None:
    """``404``, ``status.HTTP_404_NOT_FOUND``, ``HTTPStatus.NOT_FOUND``, a constant name."""
    if expr is None:
        return None
    value = constant(expr)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(expr, ast.Name):
        bound = ctx.value_of(expr.id)
        if bound is not None and bound is not expr:
            return _status_code(bound, ctx)
    text = dotted(expr)
    if text is None:
        return None
    match = _STATUS_NAME.search(text)
    if match:
        return int(match.group(1))
    last = text.rsplit(".", 1)[-1]
    if "." in text and last.isupper() and last in http.HTTPStatus.__members__:
        return int(http.HTTPStatus[last])
    return None


# -- administrators-only routes -------------------------------------------------------------------

# The last name of a guard that admits administrators only: FastAPI dependencies
# (``Depends(check_admin)``, ``Depends(require_superuser)``), view decorators
# (``@staff_member_required``, ``@admin_required``) and DRF's ``IsAdminUser`` permission.
_ADMIN_GUARD = re.compile(r"admin|super_?user|staff_member", re.IGNORECASE)


def _admin_only_route(ctx: PythonContext) -> str | None:
    """The guard that restricts the route being walked to administrators (its last name), or
    None: a route whose every caller is the service's operator."""
    scope = ctx.function
    route = scope.route if scope is not None else None
    if route is None:
        return None
    for name in (*route.dependencies, *route.decorators):
        last = name.rsplit(".", 1)[-1]
        if _ADMIN_GUARD.search(last):
            return last
    owner = ctx.classes[-1].node if ctx.classes else None
    for member in owner.body if owner is not None else ():
        if isinstance(member, ast.Assign) and any(
            dotted(target) == "permission_classes" for target in member.targets
        ):
            for item in ast.walk(member.value):
                if (dotted(item) or "").rsplit(".", 1)[-1] == "IsAdminUser":
                    return "IsAdminUser"
    return None
