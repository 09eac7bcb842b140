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
