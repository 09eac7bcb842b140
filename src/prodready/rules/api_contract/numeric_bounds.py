"""API contract: quantities and amounts a client sends with no bounds (API006)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    ModuleMemo,
    ProjectFact,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import constant_str, dotted, walk_body
from prodready.rules.api_contract._raw_numbers import unbounded_raw_numbers

# -- API006 ---------------------------------------------------------------------------------------

# Field names of a count or a sum of money the client picks: negative or huge values are
# business errors (a refund instead of a charge, a million seats), not just odd input.
_QUANTITY = re.compile(
    r"^(\w+_)?(qty|quantity|quantities|amount|seats|tickets|units|weight|weight_kg|guests"
    r"|passengers|nights|tip|discount|percent|percentage|price|unit_price|amount_cents"
    r"|price_cents|points|hours|minutes|days|bonus|credits|fee|deposit|stake)$"
)
_NUMBER_TYPES = frozenset({"int", "float", "Decimal", "decimal.Decimal"})
_BOUND_KEYWORDS = frozenset({"ge", "gt", "le", "lt", "multiple_of"})
_CONSTRAINED = re.compile(
    r"^(con(int|float|decimal)|(Positive|Negative|NonNegative|NonPositive)(Int|Float)"
    r"|PositiveDecimal)$"
)
_INPUT_SUFFIX = re.compile(
    r"(Create|In|Input|Request|Payload|Update|Patch|Body|Command|Params|Order|Booking"
    r"|Reservation)$"
)
_OUTPUT_SUFFIX = re.compile(r"(Out|Output|Response|Public|Read|View|Result|Summary|Event)$")
_DRF_SERIALIZERS = frozenset({"Serializer", "ModelSerializer", "HyperlinkedModelSerializer"})
_DRF_NUMBERS = frozenset({"IntegerField", "FloatField", "DecimalField"})
_DRF_BOUNDS = frozenset({"min_value", "max_value", "validators", "read_only"})
_MARSHMALLOW_NUMBERS = frozenset({"Int", "Integer", "Float", "Decimal", "Number"})
_MARSHMALLOW_BOUNDS = frozenset({"validate", "dump_only"})


def _last(expr: ast.expr | None) -> str:
    return (dotted(expr) or "").rsplit(".", 1)[-1] if expr is not None else ""


def _bases(node: ast.ClassDef, ctx: PythonContext) -> set[str]:
    return {ctx.qualname(base) or dotted(base) or "" for base in node.bases}


def _validated_names(node: ast.ClassDef) -> set[str] | None:
    """The fields the class checks in code (``@field_validator("quantity")``,
    ``validate_quantity``); None when a whole-object validator may check any of them."""
    names: set[str] = set()
    for statement in node.body:
        if not isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if statement.name in {"validate", "clean", "__post_init__"}:
            return None
        if statement.name.startswith(("validate_", "clean_")):  # DRF, marshmallow; Django
            names.add(statement.name.removeprefix("validate_").removeprefix("clean_"))
        for decorator in statement.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            name = _last(call.func if call is not None else decorator)
            if name in {"model_validator", "root_validator"}:
                return None
            if call is not None and name in {"field_validator", "validator", "validates"}:
                names.update(filter(None, (constant_str(arg) for arg in call.args)))
    return names


def _number_annotation(annotation: ast.expr) -> bool | None:
    """True for a bare number type (``int``, ``float | None``, ``Optional[Decimal]``), False
    for a constrained one (``conint(ge=1)``, ``PositiveInt``, ``Annotated[int, Field(gt=0)]``),
    None for anything else."""
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        sides = [_number_annotation(annotation.left), _number_annotation(annotation.right)]
        known = [side for side in sides if side is not None]
        return known[0] if len(known) == 1 else None
    if isinstance(annotation, ast.Call):
        return False if _CONSTRAINED.match(_last(annotation.func)) else None
    if isinstance(annotation, ast.Subscript):
        head = _last(annotation.value)
        inner = annotation.slice
        parts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
        if head == "Optional":
            return _number_annotation(parts[0])
        if head == "Annotated":
            base = _number_annotation(parts[0])
            if base is None:
                return None
            return base and not any(_bounds(part) for part in parts[1:])
        return None
    name = dotted(annotation) or ""
    if _CONSTRAINED.match(name.rsplit(".", 1)[-1]):
        return False
    return True if name in _NUMBER_TYPES else None


def _bounds(expr: ast.expr | None) -> bool:
    """``Field(ge=1, le=10)``, ``Query(gt=0)``, ``annotated_types.Gt(0)``, ``Interval(...)``."""
    if not isinstance(expr, ast.Call):
        return False
    if _last(expr.func) in {"Gt", "Ge", "Lt", "Le", "Interval", "MultipleOf"}:
        return True
    return any(keyword.arg in _BOUND_KEYWORDS for keyword in expr.keywords)


def _pydantic_fields(node: ast.ClassDef) -> list[tuple[ast.AST, str]]:
    found: list[tuple[ast.AST, str]] = []
    for statement in node.body:
        if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
            continue
        name = statement.target.id
        if not _QUANTITY.match(name) or _bounds(statement.value):
            continue
        if _number_annotation(statement.annotation):
            found.append((statement, name))
    return found


def _serializer_fields(node: ast.ClassDef, marshmallow: bool) -> list[tuple[ast.AST, str]]:
    numbers = _MARSHMALLOW_NUMBERS if marshmallow else _DRF_NUMBERS
    bounds = _MARSHMALLOW_BOUNDS if marshmallow else _DRF_BOUNDS
    found: list[tuple[ast.AST, str]] = []
    for statement in node.body:
        if not (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.Call)
        ):
            continue
        name = statement.targets[0].id
        call = statement.value
        if not _QUANTITY.match(name) or _last(call.func) not in numbers:
            continue
        if any(keyword.arg in bounds or keyword.arg is None for keyword in call.keywords):
            continue
        found.append((statement, name))
    return found


def _annotated_on_handlers(ctx: PythonContext) -> frozenset[str]:
    """Class names annotated on a parameter of a decorated function (a route handler) of this
    module."""
    names: set[str] = set()
    for node in ast.walk(ctx.tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.decorator_list:
            for arg in [*node.args.args, *node.args.kwonlyargs]:
                if arg.annotation is not None:
                    names.update(
                        sub.id for sub in ast.walk(arg.annotation) if isinstance(sub, ast.Name)
                    )
    return frozenset(names)


_ROUTE_BODIES: ModuleMemo[frozenset[str]] = ModuleMemo("API006:bodies", _annotated_on_handlers)


@python_rule(
    code="API006",
    name="unbounded-numeric-input",
    category=Category.API_CONTRACT,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Quantity or amount the client sends is accepted without bounds (negative, huge)",
    nodes=(ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef),
    fix="Bound it where it is declared: Field(gt=0, le=100) / conint(ge=1), "
    "IntegerField(min_value=1, max_value=100), fields.Integer(validate=Range(min=1)).",
)
def unbounded_numeric_input(
    node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> None:
    """
    ## What it does
    Flags a quantity or a sum of money in a request schema -- a field named like `quantity`,
    `qty`, `amount`, `price`, `seats`, `tickets`, `guests`, `weight`, `discount`, `tip` --
    declared as a bare number with no bounds:
    - a pydantic model used as input (annotated on a route handler's parameter in its module,
      or named `...Create`, `...In`, `...Request`, `...Payload`, `...Update`, `...Order`...):
      `quantity: int` without `Field(gt=/ge=/le=/lt=)`, `conint(...)`, `PositiveInt` or an
      `Annotated[int, Field(ge=1)]`;
    - a Django REST framework serializer field `IntegerField()`/`DecimalField()`/
      `FloatField()` without `min_value`/`max_value`/`validators` (not `read_only`);
    - a Django form field `forms.IntegerField()`/`DecimalField()`/`FloatField()` without
      `min_value`/`max_value`/`validators`;
    - a marshmallow `fields.Integer()`/`Decimal()`/`Float()` without `validate=`;
    - in a route handler, such a field taken from a raw client mapping --
      `int(request.get_json()["points"])` (Flask), `(await request.json()).get("hours")`
      (aiohttp, Starlette), `request.data["amount"]` (DRF), `json.loads(request.body)`,
      `request.POST`/`form`/`args`/`GET`/`query_params` -- into a local the handler never
      compares with a limit (`if qty <= 0`, `0 < qty <= MAX`), clamps (`min(qty, 10)`) or
      hands to a check; a mapping passed whole to a schema or form is left to it.
    A field the class checks in code (`@field_validator("quantity")`, `validate_quantity`,
    `clean_quantity`, a whole-object `validate()`/`clean()`/`@model_validator`) is not
    reported, nor one a route handler taking the model compares before rejecting the request
    (`if not data.quantity > 0: raise HTTPException(400)`), in any module of the project.

    ## Why it breaks production
    The type check passes for `-3` and for `10**9`. A negative quantity turns a purchase
    into a credit (the total goes negative, stock goes up), a negative amount refunds money
    that was never paid, and a huge one books every seat of a venue, overflows a column or
    allocates a list the size of the number. These are not malformed requests the framework
    rejects; they are valid-looking business operations.

    ## Example
    ```python
    class TicketOrder(BaseModel):
        event_id: int
        quantity: int
    ```

    ## Use instead
    ```python
    class TicketOrder(BaseModel):
        event_id: int
        quantity: int = Field(ge=1, le=10)
    ```
    """
    if ctx.facts.is_test:
        return
    if not isinstance(node, ast.ClassDef):
        _establish_handler_bounds(node, ctx)
        _raw_reads(node, ctx)
        return
    bases = _bases(node, ctx)
    lasts = {base.rsplit(".", 1)[-1] for base in bases}
    if any(base.startswith("pydantic") or base.endswith("BaseModel") for base in bases):
        if _OUTPUT_SUFFIX.search(node.name) or not (
            _INPUT_SUFFIX.search(node.name) or node.name in ctx.memo(_ROUTE_BODIES)
        ):
            return
        fields = _pydantic_fields(node)
    elif lasts & _DRF_SERIALIZERS or (
        lasts & {"Form", "ModelForm"} and any(base.startswith("django") for base in bases)
    ):  # Django forms share DRF's field names and min_value=/max_value= bounds
        fields = _serializer_fields(node, marshmallow=False)
    elif "Schema" in lasts and any(base.startswith("marshmallow") for base in bases):
        fields = _serializer_fields(node, marshmallow=True)
    else:
        return
    checked = _validated_names(node)
    if checked is None:
        return
    for field, name in fields:
        if name in checked:
            continue
        ctx.report(
            field,
            f"'{name}' accepts any number the client sends: a negative or huge {name} is "
            "a valid request here (a credit instead of a charge, every seat booked). Bound "
            "it where it is declared (Field(gt=0, le=...), min_value=/max_value=)",
            unless=_checked_in_handler(node.name, name),
        )


def _checked_in_handler(model: str, field: str) -> ProjectFact:
    return ProjectFact(
        f"API006:checked:{model}.{field}",
        "a route handler taking this model rejects the request on a comparison of the field",
    )


def _establish_handler_bounds(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> None:
    """``async def create(data: TokenRequest): if not data.minutes > 0: raise ...``: the
    handler bounds the field of its body model before using it -- the check is one step from
    the declaration, in the only place the model is received."""
    scope = ctx.function
    if ctx.route is None or scope is None or scope.route is not ctx.route:
        return
    models = {
        arg.arg: name
        for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        if arg.annotation is not None and (name := _last(arg.annotation))
    }
    if not models:
        return
    for statement in walk_body(node.body):
        if not (
            isinstance(statement, ast.If)
            and statement.body
            and isinstance(statement.body[-1], ast.Raise | ast.Return)
        ):
            continue
        for compare in ast.walk(statement.test):
            if not isinstance(compare, ast.Compare):
                continue
            for side in (compare.left, *compare.comparators):
                if (
                    isinstance(side, ast.Attribute)
                    and isinstance(side.value, ast.Name)
                    and side.value.id in models
                ):
                    ctx.establish(_checked_in_handler(models[side.value.id], side.attr))


def _raw_reads(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> None:
    scope = ctx.function
    if ctx.route is None or scope is None or scope.route is not ctx.route:
        return
    for statement, name in unbounded_raw_numbers(node, _QUANTITY):
        ctx.report(
            statement,
            f"'{name}' is taken from the raw request data with no bound checked: a negative "
            f"or huge {name} goes straight into the arithmetic (a credit instead of a charge, "
            "a balance moved the wrong way). Validate it in a schema with bounds, or reject "
            "it here (if not 0 < value <= LIMIT: return 400)",
        )
