"""API contract: what the service accepts and returns at its boundary."""

from __future__ import annotations

import ast
import http
import re
from collections import Counter

from prodready.engine.analysis import (
    argument,
    constant,
    constant_str,
    dotted,
    has_star_kwargs,
    in_service_code,
    is_example_code,
    is_framework_source,
    is_local_name,
    keyword_value,
    walk_body,
)
from prodready.engine.python import FunctionEnd, ModuleEnd, PythonContext, Scope
from prodready.engine.registry import python_rule
from prodready.engine.taint import is_request_object
from prodready.model import Category, Confidence, Severity

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


# -- API001 ---------------------------------------------------------------------------------------

_FLASK_JSON_CALLS = ("flask.request.get_json", "quart.request.get_json")
_ASGI_JSON_CALLS = (
    "fastapi.Request.json",
    "fastapi.requests.Request.json",
    "starlette.requests.Request.json",
)
_JSON_LOADS = ("json.loads", "orjson.loads", "ujson.loads", "simplejson.loads")
_FORM_AS_DATA = ("flask.request.form.to_dict", "quart.request.form.to_dict")
_RAW_ATTRIBUTES = ("flask.request.json", "quart.request.json", "request.data")

# Evidence of validation in the handler.
_VALIDATING_METHODS = frozenset(
    {"model_validate", "model_validate_json", "parse_obj", "parse_raw", "validate"}
    | {"validate_python", "validate_json", "is_valid", "load", "loads", "deserialize"}
    | {"iter_errors", "from_dict", "structure"}
)
_VALIDATING_CALLS = (
    "jsonschema.",
    "fastjsonschema.",
    "cerberus.",
    "voluptuous.",
    "schema.Schema",
    "pydantic.",
    "marshmallow.",
    "msgspec.",
    "cattrs.",
    "attrs.",
    "dacite.",
    "typeguard.",
)
_VALIDATING_NAME = re.compile(r"valid|schema|deserializ|sanitiz|clean", re.I)
_MODEL_SUFFIX = re.compile(
    r"(Schema|Serializer|Form|Request|Payload|In|Input|Create|Update|Patch|Body|Params|DTO"
    r"|Dto|Model|Validator|Command|Query|Data)$"
)
_MODEL_BASES = ("BaseModel", "Schema", "Serializer", "Struct", "TypedDict", "Form")
_CLIENT_ERROR = frozenset({400, 409, 415, 422})
_CLIENT_ERROR_NAMES = re.compile(r"BAD_REQUEST|UNPROCESSABLE|BadRequest|ValidationError|Invalid")


class _RawRead:
    __slots__ = ("kind", "node")

    def __init__(self, node: ast.AST, kind: str) -> None:
        self.node = node
        self.kind = kind


def _route_scope(ctx: PythonContext) -> Scope | None:
    scope = ctx.function
    if scope is None or scope.route is None or ctx.facts.is_test:
        return None
    return scope


def _is_request_body(expr: ast.AST, scope: Scope) -> bool:
    """``request.body`` (or ``self.request.body``) where ``request`` is the handler's request."""
    text = (
        dotted(expr.func.value)
        if isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr == "decode"
        else dotted(expr)
    )
    if text is None or not text.endswith(".body"):
        return False
    receiver = text[: -len(".body")]
    params = [param.arg for param in scope.params]
    return receiver in {"request", "self.request"} or (
        len(params) > 0 and receiver in params[:2] and "request" in receiver.lower()
    )


@python_rule(
    code="API001",
    name="raw-request-json-without-validation",
    category=Category.API_CONTRACT,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Route handler uses the raw JSON body without validating it against a schema",
    calls=(*_FLASK_JSON_CALLS, *_ASGI_JSON_CALLS, *_JSON_LOADS, *_FORM_AS_DATA, "*.json"),
    attributes=_RAW_ATTRIBUTES,
    nodes=(FunctionEnd,),
    fix="Parse the body into a schema (pydantic model, marshmallow Schema, DRF serializer) "
    "and return 400/422 on validation errors.",
)
def raw_request_json_without_validation(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags route handlers that read the raw request body -- Flask `request.get_json()` /
    `request.json`, Starlette/FastAPI `await request.json()`, Django `json.loads(request.body)`,
    DRF `request.data` -- and never validate it: no pydantic model, marshmallow schema,
    `jsonschema.validate`, DRF serializer or form `is_valid()`, no key or type checks, and no
    400/422 response for a bad payload.

    ## Why it breaks production
    Whatever the client sends flows straight into the business logic: a missing key becomes a
    `KeyError` and a 500, a string where a number was expected corrupts data or crashes deeper
    in the stack, `null` bodies raise `TypeError`, and extra keys passed along with `**data`
    silently overwrite fields the client should never control (mass assignment). The contract
    is undocumented, so every client discovers it by trial and error.

    ## Example
    ```python
    @app.post("/orders")
    def create_order():
        data = request.get_json()
        order = Order(customer_id=data["customer_id"], amount=data["amount"])
        db.session.add(order)
    ```

    ## Use instead
    ```python
    class OrderIn(BaseModel):
        customer_id: int
        amount: condecimal(gt=0)

    @app.post("/orders")
    def create_order():
        try:
            payload = OrderIn.model_validate(request.get_json())
        except ValidationError as exc:
            return jsonify(errors=exc.errors()), 422
        order = Order(customer_id=payload.customer_id, amount=payload.amount)
    ```
    """
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        scope = ctx.function
        if scope is None or scope.node is not node:
            return
        reads: list[_RawRead] | None = scope.state.get("API001")
        if not reads or _validates(scope, reads, ctx):
            return
        first = reads[0]
        ctx.report(
            first.node,
            f"{first.kind} is used without validation in this handler: a missing key or wrong "
            "type becomes a 500 or bad data. Parse it into a schema (pydantic model, "
            "marshmallow, DRF serializer) and answer 400/422 when it does not fit",
        )
        return
    scope = _route_scope(ctx)
    if scope is None:
        return
    kind: str | None = None
    name = ctx.call_name if isinstance(node, ast.Call) else ctx.qualname(node)
    if name in _FLASK_JSON_CALLS:
        kind = "request.get_json()"
    elif name in _ASGI_JSON_CALLS or _untyped_request_json(node, ctx):
        kind = "await request.json()"
    elif name in _FORM_AS_DATA:
        kind = "request.form.to_dict()"
    elif name in _JSON_LOADS:
        if isinstance(node, ast.Call) and node.args and _is_request_body(node.args[0], scope):
            kind = "json.loads(request.body)"
    elif name in {"flask.request.json", "quart.request.json"}:
        kind = "request.json"
    elif name == "request.data" and any(
        module.startswith("rest_framework") for module, _ in ctx.facts.imports
    ):
        kind = "request.data"
    if kind is None:
        return
    reads = scope.state.setdefault("API001", [])
    reads.append(_RawRead(node, kind))


def _untyped_request_json(node: ast.AST, ctx: PythonContext) -> bool:
    """``await request.json()`` on the handler's request parameter when its type is not
    declared (aiohttp handlers, unannotated Starlette endpoints)."""
    return (
        isinstance(node, ast.Call)
        and not node.args
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "json"
        and isinstance(node.func.value, ast.Name)
        and is_request_object(node.func.value.id, ctx)
    )


def _validates(scope: Scope, reads: list[_RawRead], ctx: PythonContext) -> bool:
    """Evidence anywhere in the handler that the body is checked (run once per handler)."""
    function = scope.node
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        text = dotted(target) or ""
        if re.search(r"valid|schema|expects_json|use_args|use_kwargs|arguments|input", text, re.I):
            return True
    read_ids = {id(read.node) for read in reads}
    data_names: set[str] = set()
    nodes = list(walk_body(function.body))
    for item in nodes:
        if (
            isinstance(item, ast.Assign | ast.AnnAssign)
            and item.value is not None
            and any(id(sub) in read_ids for sub in ast.walk(item.value))
        ):
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            data_names.update(t.id for t in targets if isinstance(t, ast.Name))
    payload = _payload_names(nodes, data_names, read_ids)
    for item in nodes:
        if isinstance(item, ast.Call) and _validating_call(item, ctx):
            return True
        if isinstance(item, ast.Compare) and any(
            isinstance(op, ast.In | ast.NotIn) for op in item.ops
        ):
            right = item.comparators[-1]
            if (isinstance(right, ast.Name) and right.id in data_names) or id(right) in read_ids:
                return True  # "title" not in data: a key check
        if isinstance(item, ast.If | ast.ExceptHandler) and _client_error_path(
            item, data_names, payload, read_ids, ctx
        ):
            return True
    return False


_PAYLOAD_METHODS = frozenset({"get", "pop", "strip", "lower", "upper", "split", "items", "keys"})
_CONVERSIONS = frozenset({"int", "float", "str", "bool", "Decimal", "len", "list", "dict", "set"})


def _payload_value(expr: ast.AST, names: set[str], read_ids: set[int]) -> bool:
    """``data``, ``data["items"]``, ``data.get("qty", 0)``, ``int(data["qty"])``,
    ``data.get("name") or ""``: a value taken out of the request body as it was sent."""
    if id(expr) in read_ids:
        return True
    if isinstance(expr, ast.Await):
        return _payload_value(expr.value, names, read_ids)
    if isinstance(expr, ast.Name):
        return expr.id in names
    if isinstance(expr, ast.Subscript):
        return _payload_value(expr.value, names, read_ids)
    if isinstance(expr, ast.BoolOp):
        return any(_payload_value(value, names, read_ids) for value in expr.values)
    if isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Attribute) and func.attr in _PAYLOAD_METHODS:
            return _payload_value(func.value, names, read_ids)
        if isinstance(func, ast.Name) and func.id in _CONVERSIONS and expr.args:
            return _payload_value(expr.args[0], names, read_ids)
    return False


def _payload_names(nodes: list[ast.AST], data_names: set[str], read_ids: set[int]) -> set[str]:
    """The names holding the body or values taken out of it (``qty = data["qty"]``, ``for
    line in data["items"]``), not values computed from it (``Item.query.filter_by(sku=...)``)."""
    names = set(data_names)
    for _ in range(3):
        before = len(names)
        for item in nodes:
            if isinstance(item, ast.Assign) and _payload_value(item.value, names, read_ids):
                for target in item.targets:
                    names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            elif isinstance(item, ast.For | ast.AsyncFor | ast.comprehension) and _payload_value(
                item.iter, names, read_ids
            ):
                names.update(n.id for n in ast.walk(item.target) if isinstance(n, ast.Name))
        if len(names) == before:
            break
    return names


def _neutral_name(name: str, ctx: PythonContext) -> bool:
    """A name a validation may use besides the body: a constant (``MAX_LEN``), a builtin
    (``str``) or an imported module (``re``, ``validators``) -- not a local holding stored
    state, and not a model class."""
    if name.isupper() or ctx.resolve_name(name).startswith("builtins."):
        return True
    return (
        name[:1].islower() and not is_local_name(name, ctx) and bool(ctx.facts.bindings.get(name))
    )


def _tests_payload(
    test: ast.expr, payload: set[str], read_ids: set[int], ctx: PythonContext
) -> bool:
    """The condition inspects the body itself -- its fields against constants, types or each
    other (``not isinstance(name, str) or len(name) > 50``) -- not stored state the body is
    compared with (``product.stock < line["quantity"]``, ``if existing:``): a business rule
    answered with 400 is not a validation of the payload."""
    reads_payload = False
    stack: list[ast.AST] = [test]
    while stack:
        node = stack.pop()
        if id(node) in read_ids:
            reads_payload = True
            continue
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                stack.append(node.func)
            stack.extend(node.args)
            stack.extend(k.value for k in node.keywords)
            continue
        if isinstance(node, ast.Name):
            if node.id in payload:
                reads_payload = True
            elif not _neutral_name(node.id, ctx):
                return False
            continue
        stack.extend(ast.iter_child_nodes(node))
    return reads_payload


def _validating_call(call: ast.Call, ctx: PythonContext) -> bool:
    func = call.func
    name = ctx.qualname(func) or ""
    last = name.rsplit(".", 1)[-1]
    if name == "builtins.isinstance":
        return True
    if isinstance(func, ast.Attribute) and func.attr in _VALIDATING_METHODS:
        if func.attr not in {"load", "loads"}:
            return True
        receiver = dotted(func.value) or ""
        return bool(re.search(r"schema", receiver, re.I)) or isinstance(func.value, ast.Call)
    if name.startswith(_VALIDATING_CALLS):
        return True
    if _VALIDATING_NAME.search(last):
        return True
    if last[:1].isupper() and _MODEL_SUFFIX.search(last):
        return True  # OrderCreate(**data), OrderSchema().load(data)
    return _is_schema_class(name, ctx)


def _is_schema_class(name: str, ctx: PythonContext) -> bool:
    """A class defined in this module on a validating base (``class OrderIn(BaseModel)``)."""
    if "." in name:
        return bool(re.search(r"schema|serializer|dto|validator|forms", name.rsplit(".", 1)[0]))
    classes: dict[str, bool] | None = ctx.module_state.get("API001:classes")
    if classes is None:
        classes = {}
        for statement in ctx.tree.body:
            if isinstance(statement, ast.ClassDef):
                bases = [dotted(base) or "" for base in statement.bases]
                classes[statement.name] = any(b.endswith(_MODEL_BASES) for b in bases)
        ctx.module_state["API001:classes"] = classes
    return classes.get(name, False)


def _client_error_path(
    node: ast.If | ast.ExceptHandler,
    data_names: set[str],
    payload: set[str],
    read_ids: set[int],
    ctx: PythonContext,
) -> bool:
    """A branch answering 400/422 that checks the body's fields, not only "is there a body at
    all" or a business rule."""
    if isinstance(node, ast.If) and (
        _only_presence_test(node.test, data_names, read_ids)
        or not _tests_payload(node.test, payload, read_ids, ctx)
    ):
        return False
    if isinstance(node, ast.ExceptHandler) and _only_decode_errors(node.type):
        return False  # malformed JSON is answered, its content is not checked
    for item in walk_body(node.body):
        if isinstance(item, ast.Constant) and item.value in _CLIENT_ERROR:
            return True
        if isinstance(item, ast.Attribute | ast.Name):
            text = item.attr if isinstance(item, ast.Attribute) else item.id
            if _CLIENT_ERROR_NAMES.search(text) or (
                text.startswith("HTTP_4") and _status_code(item, ctx) in _CLIENT_ERROR
            ):
                return True
    return False


_DECODE_ERRORS = frozenset({"JSONDecodeError", "UnicodeDecodeError", "BadRequest"})


def _only_decode_errors(caught: ast.expr | None) -> bool:
    names = caught.elts if isinstance(caught, ast.Tuple) else [caught] if caught else []
    return bool(names) and all(
        (dotted(name) or "").rsplit(".", 1)[-1] in _DECODE_ERRORS for name in names
    )


def _only_presence_test(test: ast.expr, data_names: set[str], read_ids: set[int]) -> bool:
    """``not data``, ``data is None``, ``not request.is_json``: no field is checked."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test = test.operand
    if isinstance(test, ast.Compare) and len(test.comparators) == 1:
        test = test.left
    if isinstance(test, ast.Name):
        return test.id in data_names
    if isinstance(test, ast.Attribute):
        return test.attr in {"is_json", "json", "data", "body"} or id(test) in read_ids
    return id(test) in read_ids


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


# -- API003 ---------------------------------------------------------------------------------------

_VERSION_SEGMENT = re.compile(
    r"^(v\d+([._]\d+)*|api-?v\d+|version-?\d+|\d{4}-\d{2}-\d{2}|[{<][^}>]*version[^}>]*[}>])$",
    re.IGNORECASE,
)
_UNVERSIONED_OK = re.compile(
    r"^/?(health\w*|livez|readyz|ready|live|ping|status|metrics|docs|redoc|openapi\.json|"
    r"swagger[\w./-]*|favicon\.ico|robots\.txt|\.well-known|static|version|webhooks?|"
    r"callback|oauth\w*|login|logout|auth)(/.*)?$",
    re.IGNORECASE,
)
_ROUTE_ADDERS = frozenset({"add_api_route", "add_url_rule", "add_route"})
_API_APPS = frozenset(
    {"fastapi.FastAPI", "fastapi.applications.FastAPI", "flask.Flask", "quart.Quart"}
)
_API_ROUTERS = frozenset(
    {"fastapi.APIRouter", "fastapi.routing.APIRouter", "flask.Blueprint", "quart.Blueprint"}
)
_HTML_MARKERS = ("render_template", "TemplateResponse", "HTMLResponse", "render", "redirect")


def _versioned(path: str) -> bool:
    return any(_VERSION_SEGMENT.match(segment) for segment in path.split("/") if segment)


class _Versioning:
    """Routes per receiver and what the module says about its prefixes."""

    __slots__ = ("html", "includes", "routes")

    def __init__(self) -> None:
        self.routes: dict[str, list[tuple[ast.AST, str]]] = {}
        # receiver name -> prefixes it is included/mounted under here (None: not literal)
        self.includes: dict[str, list[str | None]] = {}
        self.html: set[str] = set()  # handlers (function names) that render pages


@python_rule(
    code="API003",
    name="route-without-version-prefix",
    category=Category.API_CONTRACT,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="Public API routes without a version prefix (/v1/...): no way to evolve safely",
    calls=tuple(f"*.{m}" for m in (*_ROUTE_ADDERS, "include_router", "register_blueprint")),
    nodes=(FunctionEnd, ModuleEnd),
    fix='Serve the API under a version prefix, e.g. APIRouter(prefix="/v1").',
)
def route_without_version_prefix(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    For services whose profile says `exposure = "public"`, flags FastAPI/Flask apps, routers
    and blueprints created in the module whose API routes have no version segment (`/v1/`,
    `/api/v2/`) in the route path, the router's `prefix=`/`url_prefix=`, or the prefix they are
    included under. Probes, metrics, docs, auth callbacks, webhooks and HTML pages are exempt;
    routers included elsewhere (whose final prefix is unknown here) are not judged.

    ## Why it breaks production
    Public clients -- mobile apps that are never updated, partner integrations, SDKs -- keep
    calling the API for years. Without a version in the path, every breaking change (a renamed
    field, a stricter validation) breaks them all at once, and there is no way to run the old
    and the new contract side by side while clients migrate.

    ## Example
    ```python
    router = APIRouter(prefix="/orders")
    app.include_router(router)
    ```

    ## Use instead
    ```python
    router = APIRouter(prefix="/orders")
    app.include_router(router, prefix="/v1")
    ```
    """
    if ctx.profile.exposure != "public" or ctx.facts.is_test or is_example_code(ctx):
        return
    state: _Versioning = ctx.module_state.setdefault("API003", _Versioning())
    if isinstance(node, ast.Call):
        _record_versioning_call(node, state)
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        _record_route(node, state, ctx)
    elif isinstance(node, ast.Module) and state.routes:
        _judge_versioning(node, state, ctx)


def _record_versioning_call(node: ast.Call, state: _Versioning) -> None:
    func = node.func
    if not isinstance(func, ast.Attribute):
        return
    receiver = dotted(func.value)
    if receiver is None:
        return
    if func.attr in _ROUTE_ADDERS:
        path = constant_str(argument(node, 0, "path") or argument(node, 0, "rule"))
        if path is not None:
            state.routes.setdefault(receiver, []).append((node, path))
        return
    included = dotted(node.args[0]) if node.args else None
    if included is None:
        return
    prefix_expr = keyword_value(node, "prefix") or keyword_value(node, "url_prefix")
    prefix = "" if prefix_expr is None else constant_str(prefix_expr)
    state.includes.setdefault(included, []).append(prefix)


def _record_route(
    node: ast.FunctionDef | ast.AsyncFunctionDef, state: _Versioning, ctx: PythonContext
) -> None:
    scope = ctx.function
    if scope is None or scope.node is not node or scope.route is None:
        return
    for decorator in node.decorator_list:
        if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
            continue
        if decorator.func.attr == "websocket":
            return
        receiver = dotted(decorator.func.value)
        path = constant_str(argument(decorator, 0, "path") or argument(decorator, 0, "rule"))
        if receiver is None or path is None:
            continue
        if _renders_html(node, decorator, ctx):
            return
        state.routes.setdefault(receiver, []).append((decorator, path))
        return


def _renders_html(
    node: ast.FunctionDef | ast.AsyncFunctionDef, decorator: ast.Call, ctx: PythonContext
) -> bool:
    response_class = dotted(keyword_value(decorator, "response_class")) or ""
    if "HTML" in response_class or "Redirect" in response_class:
        return True
    for item in walk_body(node.body):
        if isinstance(item, ast.Call):
            name = (dotted(item.func) or "").rsplit(".", 1)[-1]
            if name in _HTML_MARKERS:
                return True
    return False


def _constructions(tree: ast.Module, ctx: PythonContext) -> dict[str, ast.Call]:
    """Top-level ``name = FastAPI(...)`` / ``APIRouter(...)`` / ``Flask(...)`` / ``Blueprint``."""
    found: dict[str, ast.Call] = {}
    for statement in tree.body:
        if not isinstance(statement, ast.Assign | ast.AnnAssign):
            continue
        value = statement.value
        if not isinstance(value, ast.Call):
            continue
        kind = ctx.qualname(value.func)
        if kind not in _API_APPS and kind not in _API_ROUTERS:
            continue
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        for target in targets:
            if isinstance(target, ast.Name):
                found[target.id] = value
    return found


def _judge_versioning(tree: ast.Module, state: _Versioning, ctx: PythonContext) -> None:
    built = _constructions(tree, ctx)
    for receiver, routes in state.routes.items():
        construction = built.get(receiver)
        if construction is None:
            continue  # an app/router from elsewhere: its final prefix is unknown here
        is_app = ctx.qualname(construction.func) in _API_APPS
        own_expr = keyword_value(construction, "prefix") or keyword_value(
            construction, "url_prefix"
        )
        own = "" if own_expr is None else constant_str(own_expr)
        if own is None or _versioned(own):
            continue
        includes = state.includes.get(receiver)
        if includes is None and not is_app:
            continue  # a router included elsewhere, maybe under /v1
        if includes and any(prefix is None or _versioned(prefix) for prefix in includes):
            continue
        unversioned = [
            path
            for _, path in routes
            if not _versioned(path) and path.strip("/") and not _UNVERSIONED_OK.match(path)
        ]
        if not unversioned:
            continue
        example = (own or "") + unversioned[0]
        ctx.report(
            construction,
            f"{len(unversioned)} public route(s) on '{receiver}' have no version prefix "
            f"(e.g. {example}): breaking changes will break every client at once. Serve them "
            'under /v1 (prefix="/v1" on the router or include_router)',
        )


# -- API004 ---------------------------------------------------------------------------------------

_JSON_RESPONSES = (
    "fastapi.responses.JSONResponse",
    "fastapi.responses.ORJSONResponse",
    "fastapi.responses.UJSONResponse",
    "starlette.responses.JSONResponse",
    "fastapi.JSONResponse",
)
_HTTP_EXCEPTIONS = (
    "fastapi.HTTPException",
    "fastapi.exceptions.HTTPException",
    "starlette.exceptions.HTTPException",
)
_DJANGO_RESPONSES = ("django.http.JsonResponse", "django.http.response.JsonResponse")
_DRF_RESPONSES = ("rest_framework.response.Response",)
_FLASK_RESPONSES = ("flask.make_response", "quart.make_response")
_JSONIFY = ("flask.jsonify", "quart.jsonify", "flask.json.jsonify")
_MESSAGE_KEYS = frozenset(
    {"error", "errors", "message", "msg", "detail", "details", "description", "reason"}
    | {"error_message", "errorMessage", "error_description", "title", "err"}
)


_KEY_FAMILY = {"errors": "error", "err": "error", "details": "detail", "msg": "message"}


def _dict_keys(expr: ast.AST | None) -> frozenset[str] | None:
    if not isinstance(expr, ast.Dict) or not expr.keys:
        return None
    keys = [constant_str(key) for key in expr.keys]
    if any(key is None for key in keys):
        return None  # **spread or computed key
    return frozenset(key for key in keys if key is not None)


def _payload_keys(expr: ast.AST | None, ctx: PythonContext) -> frozenset[str] | None:
    """Top-level keys of a JSON payload: a dict literal or ``jsonify(...)``."""
    if isinstance(expr, ast.Dict):
        return _dict_keys(expr)
    if isinstance(expr, ast.Call) and ctx.qualname(expr.func) in _JSONIFY:
        if has_star_kwargs(expr):
            return None
        if expr.keywords and not expr.args:
            return frozenset(k.arg for k in expr.keywords if k.arg is not None)
        if len(expr.args) == 1 and not expr.keywords:
            return _dict_keys(expr.args[0])
    return None


class _ErrorPayload:
    __slots__ = ("keys", "node")

    def __init__(self, node: ast.AST, keys: frozenset[str]) -> None:
        self.node = node
        self.keys = keys

    @property
    def message_keys(self) -> frozenset[str]:
        """The keys carrying the error message, singular and plural folded together."""
        keys = (self.keys & _MESSAGE_KEYS) or self.keys
        return frozenset(_KEY_FAMILY.get(key, key) for key in keys)


@python_rule(
    code="API004",
    name="inconsistent-error-shape",
    category=Category.API_CONTRACT,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="Error responses in one module use different JSON shapes (error vs message...)",
    calls=(
        *_JSON_RESPONSES,
        *_HTTP_EXCEPTIONS,
        *_DJANGO_RESPONSES,
        *_DRF_RESPONSES,
        *_FLASK_RESPONSES,
    ),
    nodes=(ast.Return, ModuleEnd),
    fix="Use one error shape everywhere (e.g. {'error': {'code': ..., 'message': ...}}), "
    "ideally produced by a single exception handler.",
)
def inconsistent_error_shape(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Collects the error responses of a module's handlers -- `HTTPException(detail=...)`,
    `JSONResponse(content, status_code>=400)`, `jsonify(...), 4xx` tuples, Django
    `JsonResponse(..., status=4xx)`, DRF `Response(..., status=4xx)` -- and flags those whose
    message key differs from the module's most common error shape (`{"error": ...}` here,
    `{"message": ...}` there, FastAPI's `{"detail": ...}` elsewhere).

    ## Why it breaks production
    Clients parse errors by shape. When one endpoint answers `{"error": "..."}` and the next
    `{"message": "..."}`, client code that shows or logs the error reads `undefined` for half
    the endpoints: users see "Something went wrong" with no reason, retries and error-code
    handling key off the wrong field, and support tickets carry no detail.

    ## Example
    ```python
    @app.get("/users/{user_id}")
    def get_user(user_id: int):
        raise HTTPException(status_code=404, detail="user not found")   # {"detail": ...}

    @app.post("/users")
    def create_user(user: UserIn):
        return JSONResponse({"error": "email taken"}, status_code=409)  # {"error": ...}
    ```

    ## Use instead
    ```python
    @app.post("/users")
    def create_user(user: UserIn):
        raise HTTPException(status_code=409, detail="email taken")  # one shape everywhere
    ```
    """
    if isinstance(node, ast.Module):
        _judge_error_shapes(ctx)
        return
    if ctx.function is None or ctx.facts.is_test or is_framework_source(ctx):
        return
    payload = _returned_error(node, ctx) if isinstance(node, ast.Return) else _error_call(node, ctx)
    if payload is not None:
        found: list[_ErrorPayload] = ctx.module_state.setdefault("API004", [])
        found.append(payload)


def _error_call(node: ast.AST, ctx: PythonContext) -> _ErrorPayload | None:
    if not isinstance(node, ast.Call) or has_star_kwargs(node):
        return None
    name = ctx.call_name or ""
    if name in _HTTP_EXCEPTIONS:
        detail = argument(node, 1, "detail")
        status = _status_code(argument(node, 0, "status_code"), ctx)
        if detail is None or status is None or status < 400:
            return None
        return _ErrorPayload(node, frozenset({"detail"}))
    if name in _JSON_RESPONSES:
        content, status_expr = argument(node, 0, "content"), argument(node, 1, "status_code")
    elif name in _DJANGO_RESPONSES or name in _DRF_RESPONSES:
        content, status_expr = argument(node, 0, "data"), keyword_value(node, "status")
        if status_expr is None and name in _DRF_RESPONSES:
            status_expr = argument(node, 1, "status")
    elif name in _FLASK_RESPONSES:
        content, status_expr = argument(node, 0), argument(node, 1)
    else:
        return None
    status = _status_code(status_expr, ctx)
    keys = _payload_keys(content, ctx)
    if status is None or status < 400 or keys is None:
        return None
    return _ErrorPayload(node, keys)


def _returned_error(node: ast.Return, ctx: PythonContext) -> _ErrorPayload | None:
    """Flask's ``return {"error": ...}, 400`` / ``return jsonify(...), 404``."""
    value = node.value
    if not isinstance(value, ast.Tuple) or len(value.elts) < 2:
        return None
    route = ctx.route
    if (route.framework if route is not None else ctx.facts.framework) not in {"flask", None}:
        return None  # FastAPI/Django do not read (body, status) tuples
    status = _status_code(value.elts[1], ctx)
    if status is None or status < 400:
        return None
    keys = _payload_keys(value.elts[0], ctx)
    if keys is None:
        return None
    return _ErrorPayload(value.elts[0], keys)


def _judge_error_shapes(ctx: PythonContext) -> None:
    found: list[_ErrorPayload] = ctx.module_state.get("API004", [])
    if len(found) < 2 or not in_service_code(ctx):
        return
    shapes = Counter(payload.message_keys for payload in found)
    if len(shapes) < 2:
        return
    dominant = shapes.most_common(1)[0][0]  # ties: the shape seen first
    dominant_text = _shape_text(dominant)
    for payload in found:
        if payload.message_keys & dominant:
            continue
        ctx.report(
            payload.node,
            f"error payload {_shape_text(payload.message_keys)} differs from this module's "
            f"usual {dominant_text}: clients reading one field miss the other. Use one error "
            "shape for every endpoint",
        )


def _shape_text(keys: frozenset[str]) -> str:
    return "{" + ", ".join(f'"{key}": ...' for key in sorted(keys)) + "}"
