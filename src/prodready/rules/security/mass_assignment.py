"""Security: every field of a posted body copied onto a model (SEC048)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import dotted
from prodready.rules.security.logged_personal_data import _raw_body_parameter, _request_body

# -- SEC048 ------------------------------------------------------------------------------------

# Calls that build or write a row from keyword arguments: a model class (``Claim(**body)``),
# Django's managers and querysets, SQLAlchemy's ``insert()/update().values(**body)``.
_WRITING_METHODS = frozenset(
    {"create", "update", "get_or_create", "update_or_create", "values", "insert", "bulk_create"}
)
_CLASS_NAME = re.compile(r"^_?[A-Z][A-Za-z0-9]*$")


def _raw_body(expr: ast.expr | None, ctx: PythonContext, depth: int = 0) -> bool:
    """The whole body as the client posted it: ``request.get_json()``, ``await
    request.json()``, ``request.data``/``request.POST`` (Django, DRF), a FastAPI parameter
    annotated ``dict``, or a name bound to one of them. A pydantic model's ``model_dump()`` is
    not: its schema names the fields a client may send."""
    if expr is None or depth > 3:
        return False
    if _request_body(expr, ctx):
        return True
    if isinstance(expr, ast.Name):
        if _raw_body_parameter(expr.id, ctx):
            return True
        return _raw_body(ctx.value_of(expr.id), ctx, depth + 1)
    if (  # ``request.data.dict()``, ``request.POST.copy()``
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr in {"dict", "copy", "to_dict"}
        and not expr.args
    ):
        return _raw_body(expr.func.value, ctx, depth + 1)
    return False


def _in_a_handler(ctx: PythonContext) -> bool:
    """A route, or a view function/method that takes the request (Django, DRF)."""
    scope = ctx.function
    if scope is None:
        return False
    if scope.route is not None:
        return True
    params = [arg.arg for arg in scope.node.args.args]
    return "request" in params[:2]


def _filtered(loop: ast.For, key: str) -> bool:
    """The loop looks at the key before it sets it: ``if field in EDITABLE``, ``if key not in
    PROTECTED: continue``, ``if hasattr(...)``/``startswith`` tests all count."""
    for child in ast.walk(loop):
        if isinstance(child, ast.If | ast.IfExp | ast.Assert | ast.comprehension) and any(
            isinstance(n, ast.Name) and n.id == key
            for test in ([child.test] if not isinstance(child, ast.comprehension) else child.ifs)
            for n in ast.walk(test)
        ):
            return True
    return False


def _setattr_loop(node: ast.For, ctx: PythonContext) -> ast.AST | None:
    """``for key, value in body.items(): setattr(obj, key, value)`` with no test of the key."""
    target, source = node.target, node.iter
    if not (
        isinstance(target, ast.Tuple)
        and len(target.elts) == 2
        and all(isinstance(e, ast.Name) for e in target.elts)
        and isinstance(source, ast.Call)
        and isinstance(source.func, ast.Attribute)
        and source.func.attr == "items"
        and _raw_body(source.func.value, ctx)
    ):
        return None
    key = target.elts[0]
    assert isinstance(key, ast.Name)
    if _filtered(node, key.id):
        return None
    for child in ast.walk(node):
        if (
            isinstance(child, ast.Call)
            and dotted(child.func) == "setattr"
            and len(child.args) == 3
            and isinstance(child.args[1], ast.Name)
            and child.args[1].id == key.id
        ):
            return child
    return None


def _spread_into_row(node: ast.Call, ctx: PythonContext) -> ast.expr | None:
    """``Claim(**body)``, ``Order.objects.create(**request.data)``,
    ``update(Account).values(**payload)``, ``obj.__dict__.update(body)``: the body spread into
    a row's columns. Returns the spread body."""
    callee = node.func
    last = callee.attr if isinstance(callee, ast.Attribute) else dotted(callee) or ""
    if isinstance(callee, ast.Attribute) and callee.attr == "update" and node.args:
        owner = callee.value
        if isinstance(owner, ast.Attribute) and owner.attr == "__dict__":
            return node.args[0] if _raw_body(node.args[0], ctx) else None
    if not (_CLASS_NAME.match(last) or last in _WRITING_METHODS):
        return None
    if last in _WRITING_METHODS and not isinstance(callee, ast.Attribute):
        return None
    for keyword in node.keywords:
        if keyword.arg is None and _raw_body(keyword.value, ctx):
            return keyword.value
    return None


@python_rule(
    code="SEC048",
    name="mass-assignment-from-request",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    summary="Every field of the posted body is copied onto a model (status, role, price...)",
    nodes=(ast.For, ast.Call),
    cwe=915,
    fix="Copy only the fields the client may change: a schema (pydantic model, DRF serializer "
    "with explicit fields) or an allow-list of keys.",
)
def mass_assignment_from_request(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags request handlers (FastAPI, Flask, Django/DRF, aiohttp, Starlette) that copy the
    posted body onto a model field by field without choosing the fields:
    `for key, value in body.items(): setattr(obj, key, value)`, `Order(**request.get_json())`,
    `Model.objects.create(**request.data)`, `queryset.update(**payload)`,
    `update(Account).values(**await request.json())` or `obj.__dict__.update(body)`, where the
    body is the raw JSON or form the client sent (a FastAPI parameter annotated `dict`, a
    name bound to `request.json()`...). A loop that tests the key first (`if key in
    EDITABLE`) and a pydantic model's `model_dump()` -- its schema names the fields -- are
    fine.

    ## Why it breaks production
    The client chooses the columns. A PATCH meant for a description also accepts
    `{"status": "approved", "payout_amount": 90000}`, `{"is_admin": true}` or
    `{"owner_id": 1}`: privilege escalation and fraud through an ordinary endpoint, invisible
    in the logs (mass assignment, CWE-915, OWASP API6).

    ## Example
    ```python
    @app.route("/tickets/<int:ticket_id>", methods=["PATCH"])
    def edit_ticket(ticket_id):
        ticket = Ticket.query.get_or_404(ticket_id)
        for key, value in request.get_json().items():
            setattr(ticket, key, value)
        db.session.commit()
    ```

    ## Use instead
    ```python
    EDITABLE = {"title", "description"}

    for key, value in request.get_json().items():
        if key in EDITABLE:
            setattr(ticket, key, value)
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example or not _in_a_handler(ctx):
        return
    if isinstance(node, ast.For):
        where = _setattr_loop(node, ctx)
        if where is not None:
            body = ctx.segment(node.iter)
            ctx.report(
                where,
                f"every key of the posted body (`{body}`) is set on the object with setattr(): "
                "the client chooses the fields, so status, role, is_admin, price or owner are "
                "theirs to set. Set only an allow-list of fields, or validate the body with a "
                "schema that names them",
            )
        return
    assert isinstance(node, ast.Call)
    spread = _spread_into_row(node, ctx)
    if spread is not None:
        ctx.report(
            node,
            f"the posted body `{ctx.segment(spread)}` is spread into "
            f"`{ctx.segment(node.func)}(...)`: every key the client sends becomes a column, so "
            "status, role, is_admin, price or owner are theirs to set. Pass only the fields "
            "the client may change (a schema with explicit fields, or an allow-list)",
        )
