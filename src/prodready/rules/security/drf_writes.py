"""Security: Django REST framework writes open to the client (SEC049, SEC050; project rules).

SEC049: a ModelSerializer with every model field (``fields = "__all__"`` or ``exclude``) that
a writable view uses, where the model has privileged fields not made read-only. SEC050: the
project's default permission is ``AllowAny`` (or DRF's own default, when authentication
classes are set) while writable viewsets set no permission of their own.
"""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    Mark,
    ProjectContext,
    ProjectFacts,
    PythonContext,
    Severity,
    project_rule,
)
from prodready.plugin.analysis import constant_str, dotted
from prodready.rules._service import _evidence, _marks

# Fields whose value decides money, access or ownership: the client must never choose them.
_PRIVILEGED_FIELD = re.compile(
    r"^(?:status|role|roles|is_staff|is_admin|is_superuser|is_active|is_verified"
    r"|verified|approved|is_approved|permissions|user_permissions|groups|price|unit_price"
    r"|amount|total|total_price|total_amount|subtotal|balance|credit|credits|discount|fee"
    r"|payout|payout_amount|refund_amount|paid|is_paid|owner|user|created_by|author"
    r"|tenant|organization|account|base_rate|salary)$"
)
# Fields that move money or grant rights; the others (a status, an owner) are reported at
# medium: what setting them does depends on the workflow around the row.
_ESCALATING_FIELD = re.compile(
    r"^(?:role|roles|is_staff|is_admin|is_superuser|is_active|is_verified|verified|approved"
    r"|is_approved|permissions|user_permissions|groups|balance|credit|credits|paid|is_paid)$"
)
_PRICE_FIELD = re.compile(
    r"^(?:price|unit_price|amount|total|total_price|total_amount|subtotal|discount|fee|payout"
    r"|payout_amount|refund_amount|rate|base_rate|salary)$"
)
_MODEL_BASES = re.compile(r"(?:^|\.)(?:Model|AbstractUser|AbstractBaseUser)$")
_SERIALIZER_BASES = re.compile(r"(?:^|\.)(?:ModelSerializer|HyperlinkedModelSerializer)$")
# Views whose serializer writes: viewsets and generic views with create/update.
_WRITING_VIEWS = re.compile(
    r"(?:^|\.)(?:ModelViewSet|CreateAPIView|UpdateAPIView|ListCreateAPIView"
    r"|RetrieveUpdateAPIView|RetrieveUpdateDestroyAPIView|CreateModelMixin|UpdateModelMixin)$"
)
_PRIVILEGED_PERMISSION = re.compile(r"Admin|Staff|Superuser|DjangoModelPermissions|Owner|Object")


def _base_names(node: ast.ClassDef) -> list[str]:
    return [dotted(base) or "" for base in node.bases]


def _model_mark(node: ast.ClassDef) -> Mark | None:
    """A Django model and its privileged fields a form or serializer may write (fields with
    ``editable=False`` are read-only to DRF)."""
    if not any(_MODEL_BASES.search(name) for name in _base_names(node)):
        return None
    privileged: list[str] = []
    for statement in node.body:
        if not (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.Call)
        ):
            continue
        name = statement.targets[0].id
        field = (dotted(statement.value.func) or "").rsplit(".", 1)[-1]
        if not field.endswith(("Field", "ForeignKey", "OneToOneField")):
            continue
        editable = next((k.value for k in statement.value.keywords if k.arg == "editable"), None)
        if isinstance(editable, ast.Constant) and editable.value is False:
            continue
        if _PRIVILEGED_FIELD.match(name):
            privileged.append(name)
    # A price on a catalogue row (a room type's rate, a product's price) is what its editors
    # are there to set -- who may edit is a permission question; on a transaction (a row
    # with a status or an owner) the client must never choose it.
    if not any(not _PRICE_FIELD.match(name) for name in privileged):
        privileged = []
    if any(name.endswith("AbstractUser") for name in _base_names(node)):
        privileged += ["is_staff", "is_superuser", "groups", "user_permissions"]
    return Mark.of("model", node.lineno, name=node.name, privileged=",".join(privileged))


def _strings(expr: ast.expr | None) -> list[str]:
    if isinstance(expr, ast.List | ast.Tuple | ast.Set):
        return [text for item in expr.elts if (text := constant_str(item)) is not None]
    return []


def _serializer_mark(node: ast.ClassDef) -> Mark | None:
    """A ModelSerializer that takes every model field: where it says so, its model and the
    fields it makes read-only or declares itself."""
    if not any(_SERIALIZER_BASES.search(name) for name in _base_names(node)):
        return None
    meta = next((s for s in node.body if isinstance(s, ast.ClassDef) and s.name == "Meta"), None)
    if meta is None:
        return None
    model = ""
    every: ast.stmt | None = None
    chosen: list[str] = []
    for statement in meta.body:
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1):
            continue
        key = dotted(statement.targets[0]) or ""
        if key == "model":
            model = (dotted(statement.value) or "").rsplit(".", 1)[-1]
        elif key == "fields" and constant_str(statement.value) == "__all__":
            every = statement
        elif key == "exclude":
            every = statement
            chosen += _strings(statement.value)
        elif key == "read_only_fields":
            chosen += _strings(statement.value) or ["*"]  # a computed list: trust it
        elif key == "extra_kwargs":
            chosen += ["*"] if not isinstance(statement.value, ast.Dict) else []
            if isinstance(statement.value, ast.Dict):
                chosen += [
                    text
                    for k, v in zip(statement.value.keys, statement.value.values, strict=True)
                    if k is not None
                    and (text := constant_str(k)) is not None
                    and "read_only" in ast.unparse(v)
                ]
    if every is None or not model:
        return None
    # Fields the serializer declares itself are its own choice (read-only or validated).
    chosen += [
        target.id
        for statement in node.body
        if isinstance(statement, ast.Assign)
        for target in statement.targets
        if isinstance(target, ast.Name)
    ]
    return Mark.of("serializer", every.lineno, name=node.name, model=model, chosen=",".join(chosen))


def _writer_marks(node: ast.ClassDef) -> list[Mark]:
    """A writable DRF view's serializer, unless only administrators may call it."""
    if not any(_WRITING_VIEWS.search(name) for name in _base_names(node)):
        return []
    serializer = ""
    permissions = ""
    for statement in node.body:
        if isinstance(statement, ast.FunctionDef) and statement.name == "get_permissions":
            permissions = permissions or "get_permissions()"
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            key = dotted(statement.targets[0]) or ""
            if key == "serializer_class":
                serializer = (dotted(statement.value) or "").rsplit(".", 1)[-1]
            elif key == "permission_classes":
                permissions = ast.unparse(statement.value)
    marks = [
        Mark.of(
            "writable-view",
            node.lineno,
            name=node.name,
            permissions=permissions or None,
            viewset="ViewSet" in " ".join(_base_names(node)),
        )
    ]
    if serializer and not _PRIVILEGED_PERMISSION.search(permissions):
        marks.append(Mark.of("writer", node.lineno, name=serializer))
    return marks


def _function_writer_marks(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> list[Mark]:
    """``OrderSerializer(data=request.data)`` (or ``(instance, data=...)``) in a view function
    or an APIView method, unless an admin-only permission guards it."""
    params = [arg.arg for arg in node.args.args[:2]]
    if "request" not in params:
        return []
    guards = " ".join(ast.unparse(d) for d in node.decorator_list)
    if ctx.classes:  # an APIView method: the class's permission_classes guard it
        guards += " ".join(ast.unparse(s) for s in ctx.classes[-1].node.body if _permissions(s))
    if _PRIVILEGED_PERMISSION.search(guards):
        return []
    marks: list[Mark] = []
    for child in ast.walk(node):
        if (
            isinstance(child, ast.Call)
            and (name := (dotted(child.func) or "").rsplit(".", 1)[-1]).endswith("Serializer")
            and any(keyword.arg == "data" for keyword in child.keywords)
        ):
            marks.append(Mark.of("writer", child.lineno, name=name))
    return marks


def _settings_mark(node: ast.Assign) -> Mark | None:
    """``REST_FRAMEWORK = {...}``: its default permission classes (empty when unset)."""
    if not (
        len(node.targets) == 1
        and dotted(node.targets[0]) == "REST_FRAMEWORK"
        and isinstance(node.value, ast.Dict)
    ):
        return None
    permission = ""
    line = node.lineno
    for key, value in zip(node.value.keys, node.value.values, strict=True):
        if key is not None and constant_str(key) == "DEFAULT_PERMISSION_CLASSES":
            permission = ",".join(_strings(value)) or ast.unparse(value)
            line = key.lineno
    return Mark.of("drf-settings", line, name="REST_FRAMEWORK", permission=permission)


def _permissions(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and dotted(statement.targets[0]) == "permission_classes"
    )


def _collect(node: ast.AST, ctx: PythonContext) -> list[Mark | tuple[str, int]] | None:
    if ctx.facts.is_test or ctx.facts.is_example:
        return None
    if isinstance(node, ast.Assign):
        settings = _settings_mark(node) if ctx.function is None and not ctx.classes else None
        return [settings] if settings is not None else None
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return list(_function_writer_marks(node, ctx)) or None
    assert isinstance(node, ast.ClassDef)
    found = [mark for mark in (_model_mark(node), _serializer_mark(node)) if mark is not None]
    return [*found, *_writer_marks(node)] or None


@project_rule(
    nodes=(ast.ClassDef, ast.Assign, ast.FunctionDef, ast.AsyncFunctionDef),
    collect=_collect,
    code="SEC049",
    name="serializer-writes-privileged-fields",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    summary="DRF ModelSerializer with every field writable (status, price, owner...) "
    "behind a writable view",
    cwe=915,
    fix="List the fields the client may write (fields = [...]) and put status, prices and "
    "owners in read_only_fields.",
)
def serializer_writes_privileged_fields(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags Django REST framework `ModelSerializer`s declared with `fields = "__all__"` or
    `exclude = [...]` whose model (found anywhere in the project) has privileged fields --
    status, role, is_staff/is_admin, price/amount/total/balance, owner/user/author -- that are
    neither in `read_only_fields`/`extra_kwargs` read-only nor declared on the serializer,
    when a writable view (`ModelViewSet`, `CreateAPIView`, `UpdateAPIView`, the
    create/update mixins...) uses the serializer and is not restricted to administrators.
    Non-editable model fields (`editable=False`, `auto_now`) are read-only to DRF and do not
    count. A model outside the project is not judged.

    ## Why it breaks production
    `"__all__"` makes every column a request field: a booking API accepts
    `{"status": "confirmed", "total_price": 0}`, a profile API `{"is_staff": true}`, an order
    API another user's `owner`. Fields added to the model later become writable silently
    (mass assignment, CWE-915, OWASP API6).

    ## Example
    ```python
    class OrderSerializer(serializers.ModelSerializer):
        class Meta:
            model = Order
            fields = "__all__"

    class OrderViewSet(viewsets.ModelViewSet):
        serializer_class = OrderSerializer
    ```

    ## Use instead
    ```python
    class OrderSerializer(serializers.ModelSerializer):
        class Meta:
            model = Order
            fields = ["id", "items", "note", "status", "total"]
            read_only_fields = ["status", "total"]
    ```
    """
    evidence = _evidence(project, "SEC049")
    writers = {item.name for item in _marks(evidence, "writer")}
    models: dict[str, list[set[str]]] = {}
    for item in _marks(evidence, "model"):
        models.setdefault(item.name, []).append(
            set(filter(None, item.text("privileged").split(",")))
        )
    for item in _marks(evidence, "serializer"):
        if item.name not in writers:
            continue
        chosen = set(item.text("chosen").split(","))
        if "*" in chosen:
            continue
        found = models.get(item.text("model"))
        if not found:
            continue  # a model outside the project, or not a Django model
        # Precision first: a model name defined twice counts by its least privileged form.
        exposed = sorted(set.intersection(*found) - chosen)
        if not exposed:
            continue
        shown = ", ".join(exposed[:5])
        escalating = any(
            _ESCALATING_FIELD.match(name) or _PRICE_FIELD.match(name) for name in exposed
        )
        tier = (
            ""
            if escalating
            else " Reported at medium: no money or permission field is among them, so what "
            "setting them does depends on the workflow around the row."
        )
        ctx.report(
            item.path,
            item.line,
            f"{item.name} takes every field of {item.text('model')} and a writable view uses "
            f"it: the client can set {shown} in the request body (mass assignment). List the "
            "writable fields and make these read-only." + tier,
            severity=None if escalating else Severity.MEDIUM,
        )


@project_rule(
    nodes=(ast.ClassDef, ast.Assign, ast.FunctionDef, ast.AsyncFunctionDef),
    collect=_collect,
    code="SEC050",
    name="drf-default-allow-any",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    summary="DRF default permission is AllowAny while writable viewsets set none of their own",
    cwe=862,
    fix='Set REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"] to IsAuthenticated (or stricter) and '
    "open single views explicitly with permission_classes = [AllowAny].",
)
def drf_default_allow_any(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a Django settings `REST_FRAMEWORK` dictionary whose `DEFAULT_PERMISSION_CLASSES`
    is `AllowAny` -- or that leaves it out, so DRF's own default `AllowAny` applies -- when the
    project has writable views (`ModelViewSet`, `CreateAPIView`, `UpdateAPIView`, the
    create/update mixins) that set neither `permission_classes` nor `get_permissions()`.

    ## Why it breaks production
    Every such view takes anonymous writes: anyone on the internet can create, change and
    delete rows -- prices, bookings, other users' records. Authentication classes alone only
    say who the caller is; without a permission nothing requires one (CWE-862).

    ## Example
    ```python
    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    }
    ```

    ## Use instead
    ```python
    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    }
    ```
    """
    evidence = _evidence(project, "SEC050")
    settings = _marks(evidence, "drf-settings")
    open_views = [
        item for item in _marks(evidence, "writable-view") if not item.text("permissions")
    ]
    if not settings or not open_views:
        return
    if any(not _allows_any(item.text("permission")) for item in settings):
        return  # some settings module requires a permission: precision first
    names = ", ".join(sorted({item.name for item in open_views})[:4])
    for item in settings:
        said = "is AllowAny" if item.text("permission") else "is not set (DRF's default: AllowAny)"
        ctx.report(
            item.path,
            item.line,
            f"DRF's DEFAULT_PERMISSION_CLASSES {said} and writable views set no permission of "
            f"their own ({names}): anyone can create, change and delete through them without "
            "signing in. Default to IsAuthenticated and open single views explicitly",
        )


def _allows_any(permission: str) -> bool:
    """No default at all, or only ``AllowAny`` (as a dotted string or the class itself)."""
    names = {part.rsplit(".", 1)[-1] for part in re.split(r"[\s,\[\]()'\"]+", permission) if part}
    return names <= {"AllowAny"}
