"""Error handling: what an ``except`` block hands on after the work failed (ERR006) -- a
fall-through to the function's success answer, or an empty result that looks like "no data".
"""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext
from prodready.plugin.analysis import dependency_call, walk_body


def falls_through(handler: ast.ExceptHandler) -> bool:
    """The handler does something (a handler that only passes is ERR001's) and neither
    returns, raises, breaks nor continues: the code after the ``try`` runs next, as it does
    after a success."""
    if not handler.body or all(
        isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        for s in handler.body
    ):
        return False
    return not any(
        isinstance(node, ast.Return | ast.Raise | ast.Break | ast.Continue)
        for node in walk_body(handler.body)
    )


def following_return(node: ast.Try, ctx: PythonContext) -> ast.Return | None:
    """The ``return`` the code after ``node`` reaches unconditionally in its block (no ``if``,
    loop or ``try`` before it), or None."""
    for statement in following_statements(node, ctx):
        if isinstance(statement, ast.Return):
            return statement
    return None


_BRANCHING = (
    ast.If | ast.For | ast.AsyncFor | ast.While | ast.Try | ast.With | ast.AsyncWith | ast.Match
)


def following_statements(node: ast.Try, ctx: PythonContext) -> list[ast.stmt]:
    """The statements after ``node`` in its block that run unconditionally once it is done:
    up to the first branch, loop, ``with`` or ``try`` (what follows may depend on a check),
    through the first ``return``; nothing after a ``raise``."""
    parent = ctx.parents().get(id(node))
    block: list[ast.stmt] | None = None
    for field in ("body", "orelse", "finalbody"):
        candidate = getattr(parent, field, None)
        if isinstance(candidate, list) and node in candidate:
            block = candidate
    if block is None:
        return []
    found: list[ast.stmt] = []
    for statement in block[block.index(node) + 1 :]:
        if isinstance(statement, _BRANCHING | ast.Raise):
            return found
        found.append(statement)
        if isinstance(statement, ast.Return):
            return found
    return found


def empty_result(value: ast.expr | None) -> str | None:
    """``[]``, ``{}``, ``()``, ``set()``, ``0``, ``0.0`` and a dict of only those: an answer
    that reads as "nothing"."""
    if isinstance(value, ast.List | ast.Tuple | ast.Set) and not value.elts:
        return ast.unparse(value)
    if isinstance(value, ast.Dict) and not value.keys:
        return "{}"
    if (  # ``{"balance": 0}``, ``{"items": [], "total": 0}``: the same nothing, as data
        isinstance(value, ast.Dict)
        and None not in value.keys
        and all(empty_result(item) is not None for item in value.values)
    ):
        return ast.unparse(value)
    if isinstance(value, ast.Constant) and type(value.value) in {int, float} and value.value == 0:
        return ast.unparse(value)
    if isinstance(value, ast.Constant) and type(value.value) in {str, bytes} and not value.value:
        return ast.unparse(value)  # an empty body: b"" served as the PDF, "" as the text
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in {"list", "dict", "set", "tuple"}
        and not value.args
        and not value.keywords
    ):
        return ast.unparse(value)
    return _empty_response(value)


# Response constructors of the web frameworks: the body is their first argument (or
# ``content=``/``data=``/``body=``/``text=``), the status ``status=``/``status_code=``.
_RESPONSES = frozenset(
    {"jsonify", "JsonResponse", "JSONResponse", "ORJSONResponse", "Response", "json_response"}
)
_BODY_KEYWORDS = ("content", "data", "body", "text")


def is_none_constant(value: ast.expr) -> bool:
    return isinstance(value, ast.Constant) and value.value is None


def _empty_response(value: ast.expr | None) -> str | None:
    """``JsonResponse({"name": None, "total": 0})``, ``Response(content=b"")``: a 2xx answer
    whose body is nothing -- a null/zero record or an empty document."""
    if not isinstance(value, ast.Call) or value.func is None:
        return None
    func = value.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name not in _RESPONSES:
        return None
    keywords = {k.arg: k.value for k in value.keywords if k.arg is not None}
    status = keywords.get("status", keywords.get("status_code"))
    if status is not None and _two_hundred(status) is None:
        return None  # an error status: the failure is said
    body = value.args[0] if value.args else None
    for keyword in _BODY_KEYWORDS:
        body = body if body is not None else keywords.get(keyword)
    if isinstance(body, ast.Dict) and body.values and None not in body.keys:
        nothing = all(
            empty_result(item) is not None or is_none_constant(item) for item in body.values
        )
        return ast.unparse(value) if nothing else None
    return ast.unparse(value) if body is not None and empty_result(body) is not None else None


def read_from_backend(node: ast.Try, function: ast.AST, ctx: PythonContext) -> bool:
    """The ``try`` calls another service, and the function otherwise returns real data."""
    if dependency_call(node.body, ctx) is None:
        return False
    return any(
        isinstance(inner, ast.Return)
        and inner.value is not None
        and empty_result(inner.value) is None
        and not (isinstance(inner.value, ast.Constant) and inner.value.value is None)
        for inner in walk_body(getattr(function, "body", []))
    )


def enclosing_try(handler: ast.ExceptHandler, ctx: PythonContext) -> ast.Try | None:
    parent = ctx.parents().get(id(handler))
    return parent if isinstance(parent, ast.Try) else None


_STATUS_KEYWORDS = ("status", "status_code")


def _two_hundred(expr: ast.expr | None) -> str | None:
    if isinstance(expr, ast.Constant) and type(expr.value) is int and 200 <= expr.value < 300:
        return str(expr.value)
    if isinstance(expr, ast.Attribute) and expr.attr.startswith("HTTP_2"):
        return expr.attr  # rest_framework.status.HTTP_200_OK, http.HTTPStatus.OK is not 2xx-named
    return None


def _bare_body(expr: ast.expr | None) -> bool:
    """No body, an empty one or a bare word (``""``, ``"ok"``, ``{}``): the status is the
    whole answer. A body with data is a fallback answer, or states its outcome in band."""
    if expr is None:
        return True
    if isinstance(expr, ast.Constant):
        return expr.value is None or (isinstance(expr.value, str) and len(expr.value) <= 16)
    return isinstance(expr, ast.Dict) and not expr.keys


def success_status(expr: ast.expr | None) -> str | None:
    """An explicit 2xx an HTTP handler answers with and nothing else: ``Response(status=204)``,
    ``HttpResponse(status=200)``, ``("", 200)``, ``HttpResponse("ok", status=200)``."""
    if isinstance(expr, ast.Tuple) and len(expr.elts) >= 2:
        code = _two_hundred(expr.elts[1])
        return f"status {code}" if code and _bare_body(expr.elts[0]) else None
    if isinstance(expr, ast.Call):
        body = expr.args[0] if expr.args else None
        for item in expr.keywords:
            if item.arg in {"data", "content", "body", "text", "json"}:
                body = item.value
        if len(expr.args) > 1 or not _bare_body(body):
            return None
        for item in expr.keywords:
            if item.arg in _STATUS_KEYWORDS:
                code = _two_hundred(item.value)
                return f"status {code}" if code else None
    return None
