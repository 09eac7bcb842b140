"""API contract: request bodies declared without a type the framework validates (API002)."""

from __future__ import annotations

import ast

from prodready.plugin import (
    Category,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import constant, dotted

# -- API002 ---------------------------------------------------------------------------------------

_NON_BODY_MARKERS = frozenset(
    {"Depends", "Security", "Query", "Path", "Header", "Cookie", "File", "Form", "UploadFile"}
)
_LOOSE_MAPPINGS = frozenset(
    {"dict", "Dict", "Mapping", "MutableMapping", "typing.Dict", "typing.Mapping"}
    | {"collections.abc.Mapping", "typing.MutableMapping", "builtins.dict"}
)
_ANY = frozenset({"Any", "typing.Any", "object", "builtins.object", "JSON", "Json"})


def _strip_optional(annotation: ast.expr) -> ast.expr:
    """``Optional[X]``, ``X | None``, ``Union[X, None]`` -> ``X``."""
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        if constant(annotation.right) is None and isinstance(annotation.right, ast.Constant):
            return annotation.left
        if constant(annotation.left) is None and isinstance(annotation.left, ast.Constant):
            return annotation.right
    if isinstance(annotation, ast.Subscript):
        head = (dotted(annotation.value) or "").rsplit(".", 1)[-1]
        inner = annotation.slice
        if head == "Optional":
            return inner
        if head == "Union" and isinstance(inner, ast.Tuple):
            rest = [e for e in inner.elts if not (isinstance(e, ast.Constant) and e.value is None)]
            if len(rest) == 1:
                return rest[0]
    return annotation


def _untyped_body(annotation: ast.expr) -> str | None:
    """A description of a free-form JSON annotation, or None when it has a schema."""
    annotation = _strip_optional(annotation)
    text = dotted(annotation)
    if text is not None:
        if text in _LOOSE_MAPPINGS:
            return text
        return None
    if not isinstance(annotation, ast.Subscript):
        return None
    head = dotted(annotation.value) or ""
    args = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
    if head in _LOOSE_MAPPINGS:
        # dict[str, Any] is free-form; dict[str, float] is validated by FastAPI.
        value = args[-1]
        if (dotted(value) or "") in _ANY or _untyped_body(value) is not None:
            return f"{head}[...]"
        return None
    if head.rsplit(".", 1)[-1] in {"list", "List", "Sequence", "set", "Set"} and args:
        element = _untyped_body(args[0])
        return f"{head}[{element}]" if element is not None else None
    return None


def _marker(expr: ast.expr | None) -> str | None:
    if isinstance(expr, ast.Call):
        return (dotted(expr.func) or "").rsplit(".", 1)[-1]
    return None


@python_rule(
    code="API002",
    name="untyped-request-body",
    category=Category.API_CONTRACT,
    severity=Severity.MEDIUM,
    summary="FastAPI handler takes its body as dict/Any: nothing is validated or documented",
    nodes=(ast.FunctionDef, ast.AsyncFunctionDef),
    fix="Declare a pydantic model for the body and annotate the parameter with it.",
)
def untyped_request_body(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags FastAPI route handlers whose request-body parameter is annotated `dict`, `Dict`,
    `dict[str, Any]`, `Mapping`, `list[dict]`, or `Any` with `Body()`. Dependencies
    (`Depends`), query, path, header, cookie and form parameters are not bodies and are left
    alone, as are typed mappings such as `dict[str, float]`.

    ## Why it breaks production
    FastAPI validates and documents a body through its type. A `dict` body accepts any JSON
    object: required fields can be missing, values can have any type, and the handler fails
    deep inside with a `KeyError` or `TypeError` (a 500) instead of a clear 422. The OpenAPI
    schema says "object", so generated clients and API consumers have no contract to code
    against, and unknown keys are passed straight to the database or downstream services.

    ## Example
    ```python
    @app.post("/users")
    async def create_user(payload: dict):
        return await users.create(email=payload["email"], role=payload.get("role", "user"))
    ```

    ## Use instead
    ```python
    class UserCreate(BaseModel):
        email: EmailStr
        role: Literal["user", "admin"] = "user"

    @app.post("/users")
    async def create_user(payload: UserCreate):
        return await users.create(email=payload.email, role=payload.role)
    ```
    """
    route = ctx.route
    scope = ctx.function
    if route is None or scope is None or scope.route is not route or route.framework != "fastapi":
        return
    if ctx.facts.is_test or any(
        isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "websocket"
        for d in node.decorator_list
    ):
        return
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    defaults: dict[str, ast.expr] = {
        param.arg: default
        for param, default in zip(
            positional[len(positional) - len(args.defaults) :], args.defaults, strict=True
        )
    }
    for param, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if kw_default is not None:
            defaults[param.arg] = kw_default
    for param in [*positional, *args.kwonlyargs]:
        if param.annotation is None:
            continue
        annotation: ast.expr = param.annotation
        marker = _marker(defaults.get(param.arg))
        if isinstance(annotation, ast.Subscript) and (dotted(annotation.value) or "").endswith(
            "Annotated"
        ):
            parts = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else []
            if not parts:
                continue
            annotation = parts[0]
            marker = next((m for m in map(_marker, parts[1:]) if m is not None), marker)
        if marker in _NON_BODY_MARKERS:
            continue
        loose = _untyped_body(annotation)
        if loose is None and marker == "Body":
            base = dotted(_strip_optional(annotation)) or ""
            loose = base if base in _ANY else None
        if loose is None:
            continue
        ctx.report(
            param,
            f"request body '{param.arg}: {ctx.segment(annotation)}' accepts any JSON: "
            "FastAPI validates nothing and documents it as a bare object. Declare a pydantic "
            "model for it",
        )
