"""Data access: ORM objects returned from endpoints (DAT006)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Scope, Severity, python_rule
from prodready.plugin.analysis import (
    django_query,
    dotted,
    has_keyword,
    is_db_session,
    keyword_value,
    sqlalchemy_query,
)
from prodready.rules.data_access._shared import _MATERIALIZERS, _NOT_ROWS

# -- DAT006 ---------------------------------------------------------------------------------------

# Query terminals that yield model instances.
_INSTANCE_STEPS = frozenset(
    {"get", "first", "last", "earliest", "latest", "aget", "afirst", "alast", "one"}
    | {"one_or_none", "scalar_one", "scalar_one_or_none", "scalar", "get_one", "all"}
    | {"get_or_404", "first_or_404", "one_or_404", "create", "acreate"}
)
_JSON_RESPONSES = frozenset(
    {"flask.jsonify", "quart.jsonify", "django.http.JsonResponse"}
    | {"django.http.response.JsonResponse", "fastapi.responses.JSONResponse"}
    | {"starlette.responses.JSONResponse", "fastapi.encoders.jsonable_encoder"}
)
_MODEL_DUMPS = frozenset({"django.forms.models.model_to_dict", "django.forms.model_to_dict"})


def _orm_instances(expr: ast.AST | None, ctx: PythonContext, depth: int = 0) -> str | None:
    """The model whose instances ``expr`` holds (a query result, following locals), or None."""
    if expr is None or depth > 3:
        return None
    if isinstance(expr, ast.Await):
        expr = expr.value
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        return _orm_instances(value, ctx, depth + 1) if value is not expr else None
    if isinstance(expr, ast.Call) and ctx.qualname(expr.func) in _MATERIALIZERS and expr.args:
        inner = django_query(expr.args[0]) if not isinstance(expr.args[0], ast.Name) else None
        if inner is None and isinstance(expr.args[0], ast.Name):
            value = ctx.value_of(expr.args[0].id)
            inner = django_query(value) if value is not None else None
        if inner is not None and inner.model and not set(inner.steps) & _NOT_ROWS:
            return inner.model
        return None
    if not isinstance(expr, ast.Call):
        return None
    chain = django_query(expr) or sqlalchemy_query(expr, ctx)
    if chain is None or chain.model is None or chain.terminal not in _INSTANCE_STEPS:
        return None
    if {"values", "values_list", "mappings", "tuples", "columns"} & set(chain.steps):
        return None
    if chain.statement is not None and not any(s.startswith("scalar") for s in chain.steps):
        return None  # Row tuples
    return chain.model


def _leaked_model(expr: ast.AST | None, ctx: PythonContext) -> tuple[str, str] | None:
    """(model, how) when ``expr`` serialises every column of ORM instances."""
    if expr is None:
        return None
    if isinstance(expr, ast.Attribute) and expr.attr == "__dict__":
        model = _orm_instances(expr.value, ctx)
        return (model, "__dict__") if model else None
    if isinstance(expr, ast.DictComp) and expr.generators:
        iterable = expr.generators[0].iter
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute):
            return _leaked_model(iterable.func.value, ctx)
        return None
    if isinstance(expr, ast.Call):
        name = ctx.qualname(expr.func) or ""
        if name == "builtins.vars" and len(expr.args) == 1:
            model = _orm_instances(expr.args[0], ctx)
            return (model, "vars()") if model else None
        if name in _MODEL_DUMPS and expr.args and not has_keyword(expr, "fields", "exclude"):
            model = _orm_instances(expr.args[0], ctx)
            return (model, "model_to_dict()") if model else None
    if isinstance(expr, ast.ListComp | ast.GeneratorExp) and len(expr.generators) == 1:
        return _leaked_rows(expr, ctx)
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if value is not None and value is not expr and not isinstance(value, ast.Name):
            return _leaked_model(value, ctx)
    return None


def _leaked_rows(
    expr: ast.ListComp | ast.GeneratorExp, ctx: PythonContext
) -> tuple[str, str] | None:
    """``[model_to_dict(o) for o in Order.objects.filter(...)]``, ``[u.__dict__ for u in
    users]``: every column of every row of a query."""
    loop = expr.generators[0]
    if not isinstance(loop.target, ast.Name):
        return None
    row = loop.target.id
    element = expr.elt
    how: str | None = None
    if isinstance(element, ast.Attribute) and element.attr == "__dict__":
        how = "__dict__" if _is_name(element.value, row) else None
    elif (
        isinstance(element, ast.Call) and len(element.args) == 1 and _is_name(element.args[0], row)
    ):
        name = ctx.qualname(element.func) or ""
        if name == "builtins.vars":
            how = "vars()"
        elif name in _MODEL_DUMPS and not has_keyword(element, "fields", "exclude"):
            how = "model_to_dict()"
    if how is None:
        return None
    model = _orm_instances(loop.iter, ctx)
    if model is None:
        chain = django_query(loop.iter)
        if chain is not None and chain.model and not {"values", "values_list"} & set(chain.steps):
            model = chain.model  # iterating a queryset yields instances
    return (model, how) if model else None


def _is_name(expr: ast.AST, name: str) -> bool:
    return isinstance(expr, ast.Name) and expr.id == name


def _fastapi_response_declared(scope: Scope, ctx: PythonContext) -> bool:
    """The FastAPI route declares what it returns: response_model=, response_class= or a
    return annotation (which FastAPI uses as the response model)."""
    if scope.node.returns is not None:
        return True
    for decorator in scope.node.decorator_list:
        if not isinstance(decorator, ast.Call):
            continue
        if any(
            k.arg in {"response_model", "response_class"} or k.arg is None
            for k in decorator.keywords
        ):
            return True
    return False


@python_rule(
    code="DAT006",
    name="orm-object-returned-from-endpoint",
    category=Category.DATA_ACCESS,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Endpoint returns ORM objects as they are: every column leaks into the response",
    nodes=(ast.Return,),
    calls=(*sorted(_JSON_RESPONSES), "*.add"),
    fix="Return a response schema: response_model=UserOut (FastAPI), a serializer or an "
    "explicit dict of the fields the client may see.",
)
def orm_object_returned_from_endpoint(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags HTTP handlers that serialise ORM instances wholesale: a FastAPI route without
    `response_model=`/`response_class=` and without a return annotation that returns a
    SQLAlchemy or Django instance or a list of them (`session.get(User, id)`,
    `db.query(User).first()`, `session.scalars(select(User)).all()`,
    `User.objects.get(...)`); and any handler that returns or `jsonify()`s an instance's
    `__dict__`, `vars(instance)` or `model_to_dict(instance)` without `fields=`, or a list of
    them built over a query's rows (`[model_to_dict(o) for o in Order.objects.filter(...)]`).

    ## Why it breaks production
    Whatever the table holds goes to the client: password hashes, reset tokens, internal
    flags, soft-delete markers, other tenants' ids. Every column added later -- by a migration
    nobody connects to the API -- is published the day it ships. The API contract becomes the
    database schema, so a harmless rename breaks the clients, and the response is
    undocumented in OpenAPI.

    ## Example
    ```python
    @app.get("/users/{user_id}")
    def get_user(user_id: int, db: Session = Depends(get_db)):
        return db.get(User, user_id)
    ```

    ## Use instead
    ```python
    class UserOut(BaseModel):
        model_config = ConfigDict(from_attributes=True)
        id: int
        email: str
        display_name: str

    @app.get("/users/{user_id}", response_model=UserOut)
    def get_user(user_id: int, db: Session = Depends(get_db)):
        return db.get(User, user_id)
    ```
    """
    scope = ctx.function
    if scope is None or scope.route is None or ctx.facts.is_test:
        return
    added: dict[str, str] = ctx.rule_state(dict)  # name -> model, for session.add(name)
    if isinstance(node, ast.Call) and ctx.call_name not in _JSON_RESPONSES:
        _record_added(node, ctx, added)
        return
    if isinstance(node, ast.Call):
        payload = node.args[0] if node.args else keyword_value(node, "content")
        leaked = _leaked_model(payload, ctx)
        if leaked is not None:
            _report_leak(node, leaked[0], leaked[1], ctx)
        return
    assert isinstance(node, ast.Return)
    value = node.value
    if value is None:
        return
    if isinstance(value, ast.Tuple) and value.elts:
        value = value.elts[0]  # Flask: return body, status
    leaked = _leaked_model(value, ctx)
    if leaked is not None:
        _report_leak(node, leaked[0], leaked[1], ctx)
        return
    if scope.route.framework != "fastapi" or _fastapi_response_declared(scope, ctx):
        return
    candidates = [value]
    if isinstance(value, ast.Dict):
        candidates = [v for v in value.values if v is not None]
    for candidate in candidates:
        model = _orm_instances(candidate, ctx)
        if model is None and isinstance(candidate, ast.Name):
            model = added.get(candidate.id)
        if model is not None:
            ctx.report(
                node,
                f"the route returns {model} ORM objects without response_model=: FastAPI "
                "serialises every column (password hashes, internal flags) and the API "
                "contract becomes the table schema. Declare response_model= with an output "
                "schema",
            )
            return


def _report_leak(node: ast.AST, model: str, how: str, ctx: PythonContext) -> None:
    ctx.report(
        node,
        f"{how} of a {model} instance is sent to the client: every column (password hashes, "
        "tokens, internal flags) leaks, including ones added later. Serialise an explicit "
        "list of fields or an output schema",
    )


def _record_added(node: ast.Call, ctx: PythonContext, added: dict[str, str]) -> None:
    """``session.add(user)`` where ``user = User(...)``: ``user`` is a new ORM instance."""
    func = node.func
    if not isinstance(func, ast.Attribute) or len(node.args) != 1 or node.keywords:
        return
    instance = node.args[0]
    if not isinstance(instance, ast.Name) or not is_db_session(func.value, ctx):
        return
    value = ctx.value_of(instance.id)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name | ast.Attribute):
        model = dotted(value.func)
        if model is not None and model.rsplit(".", 1)[-1][:1].isupper():
            added[instance.id] = model
