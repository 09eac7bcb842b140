"""API contract: request bodies read raw, without validation (API001). Bodies declared without
a type (API002) are in ``untyped_bodies``."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    ModuleMemo,
    PythonContext,
    Scope,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import dotted, is_local_name, walk_body
from prodready.rules.api_contract._body_reads import (
    answers_malformed,
    consumer_scope,
    content_reads,
    embedded_json,
    frame_read,
    indexed,
    is_request_body,
    merged_document,
    report_merged_document,
    report_signed_read,
    signed_body,
    untyped_request_json,
)
from prodready.rules.api_contract._helper_guards import (
    establish_helper_checks,
    generic_save,
    helper_checks,
)
from prodready.rules.api_contract._shared import _status_code

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

    @property
    def decoded_here(self) -> bool:
        """A document the handler decodes itself (``json.loads``, a websocket frame): a raw
        dict only where the handler indexes it."""
        embedded = self.kind.startswith("json.loads(") and self.kind != "json.loads(request.body)"
        return embedded or self.kind.startswith("a websocket frame")


def _route_scope(ctx: PythonContext) -> Scope | None:
    scope = ctx.function
    if scope is None or ctx.facts.is_test or (scope.route is None and not consumer_scope(scope)):
        return None
    return scope


@python_rule(
    code="API001",
    name="raw-request-json-without-validation",
    category=Category.API_CONTRACT,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Route handler uses the raw JSON body without validating it against a schema",
    calls=(
        *_FLASK_JSON_CALLS,
        *_ASGI_JSON_CALLS,
        *_JSON_LOADS,
        *_FORM_AS_DATA,
        "*.json",
        "*.receive_json",
    ),
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
    `jsonschema.validate`, DRF serializer or form `is_valid()`, no key or type checks, no
    `try` around the reads that answers the `KeyError`/`TypeError`/`ValueError` of a malformed
    payload itself, and no 400/422 response for a bad payload. JSON the handler decodes itself
    and then indexes counts too: a document inside a form field or query parameter
    (`json.loads(request.POST["signers"])`), the body read as text first, and websocket frames
    (Starlette/FastAPI `receive_json()` or `json.loads(await ws.receive_text())`, aiohttp
    `msg.json()` / `json.loads(msg.data)` of a `WebSocketResponse`, Django Channels
    `json.loads(text_data)` in a consumer's `receive()` and the `content` of its
    `receive_json()`). A handler that hands every read of the body to one
    helper of the project (defined in its module or imported, also through a re-export) that
    branches on the value and answers a client error (`raise ValidationError(...)`,
    `abort(400)`) validates through that helper, and a DRF view method that hands the
    request on to the generic view's `super().create/update/partial_update(...)` has it
    validated by the view's serializer. Evidence tier: a body parsed after a function of the
    module checked its HMAC signature (`hmac.compare_digest`) is reported at low, confidence
    low -- only the provider can send it; so is a body the handler only unpacks into a dict
    (`prefs = {**prefs, **body}`) and never indexes -- a free-form document with no field to
    miss.

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
        establish_helper_checks(ctx)
        scope = ctx.function
        if scope is None or scope.node is not node:
            return
        reads: list[_RawRead] | None = scope.state.get("API001")
        if node.name == "receive_json" and consumer_scope(scope) and not ctx.facts.is_test:
            content = "the decoded websocket frame (content)"
            reads = [_RawRead(read, content) for read in content_reads(node)]
        if reads:
            reads = [read for read in reads if not read.decoded_here or indexed(read.node, node)]
        if not reads or _validates(scope, reads, ctx):
            return
        first = reads[0]
        if signed_body(node, first.node, ctx):
            report_signed_read(first.node, first.kind, ctx)  # evidence tier: low
            return
        if merged_document([read.node for read in reads], node, ctx):
            report_merged_document(first.node, first.kind, ctx)  # evidence tier: low
            return
        ctx.report(
            first.node,
            f"{first.kind} is used without validation in this handler: a missing key or wrong "
            "type becomes a 500 or bad data. Parse it into a schema (pydantic model, "
            "marshmallow, DRF serializer) and answer 400/422 when it does not fit",
            unless=helper_checks([read.node for read in reads], ctx),
        )
        return
    scope = _route_scope(ctx)
    if scope is None:
        return
    kind: str | None = None
    name = ctx.call_name if isinstance(node, ast.Call) else ctx.qualname(node)
    if name in _FLASK_JSON_CALLS:
        kind = "request.get_json()"
    elif name in _ASGI_JSON_CALLS or untyped_request_json(node, ctx):
        kind = "await request.json()"
    elif name in _FORM_AS_DATA:
        kind = "request.form.to_dict()"
    elif (frame := frame_read(node, ctx)) is not None:
        kind = frame
    elif name in _JSON_LOADS and isinstance(node, ast.Call) and node.args:
        if is_request_body(node.args[0], scope):
            kind = "json.loads(request.body)"
        else:
            kind = embedded_json(node, ctx)
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


def _validates(scope: Scope, reads: list[_RawRead], ctx: PythonContext) -> bool:
    """Evidence anywhere in the handler that the body is checked (run once per handler)."""
    function = scope.node
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        text = dotted(target) or ""
        if re.search(r"valid|schema|expects_json|use_args|use_kwargs|arguments|input", text, re.I):
            return True
    read_ids = {id(read.node) for read in reads}
    # A Channels consumer's ``content`` parameter is the body itself.
    data_names = {read.node.id for read in reads if isinstance(read.node, ast.Name)}
    nodes = list(walk_body(function.body))
    for item in nodes:
        if (
            isinstance(item, ast.Assign | ast.AnnAssign)
            and item.value is not None
            and _whole_body(item.value, read_ids)
        ):
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            data_names.update(t.id for t in targets if isinstance(t, ast.Name))
    payload = _payload_names(nodes, data_names, read_ids)
    for item in nodes:
        if isinstance(item, ast.Call) and (_validating_call(item, ctx) or generic_save(item)):
            return True
        if isinstance(item, ast.Compare) and any(
            isinstance(op, ast.In | ast.NotIn) for op in item.ops
        ):
            right = item.comparators[-1]
            if (isinstance(right, ast.Name) and right.id in data_names) or id(right) in read_ids:
                return True  # "title" not in data: a key check
        if isinstance(item, ast.Try) and answers_malformed(item, payload, read_ids):
            return True
        if isinstance(item, ast.If | ast.ExceptHandler) and _client_error_path(
            item, data_names, payload, read_ids, ctx
        ):
            return True
    return False


def _whole_body(value: ast.expr, read_ids: set[int]) -> bool:
    """``data = request.data``, ``await request.json()``, ``request.get_json() or {}``,
    ``dict(request.data)``: the name holds the body itself. ``title = request.data.get(
    "title")`` holds one field of it (a payload value: a test of it checks that field)."""
    for sub in ast.walk(value):
        if id(sub) in read_ids:
            return True
        if isinstance(sub, ast.Attribute) and sub.attr in _PAYLOAD_METHODS:
            return False  # the read is the receiver of a field access
        if isinstance(sub, ast.Subscript):
            return False
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
        module, _, last = name.rpartition(".")
        # a class of such a module; its functions (django.forms.models.model_to_dict) only
        # convert an object, they check no input
        return last[:1].isupper() and bool(
            re.search(r"schema|serializer|dto|validator|forms", module)
        )
    return ctx.memo(_SCHEMA_CLASSES).get(name, False)


def _module_classes(ctx: PythonContext) -> dict[str, bool]:
    """The classes of the module: name -> derived from a validating base."""
    classes: dict[str, bool] = {}
    for statement in ctx.tree.body:
        if isinstance(statement, ast.ClassDef):
            bases = [dotted(base) or "" for base in statement.bases]
            classes[statement.name] = any(b.endswith(_MODEL_BASES) for b in bases)
    return classes


_SCHEMA_CLASSES: ModuleMemo[dict[str, bool]] = ModuleMemo("API001:classes", _module_classes)


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
