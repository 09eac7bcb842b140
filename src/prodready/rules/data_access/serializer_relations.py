"""Data access: Django REST framework list views whose serializer reads a relation of every row
that the view's queryset does not load with it (DAT008)."""

from __future__ import annotations

import ast

from prodready.plugin import (
    Category,
    Confidence,
    Mark,
    ModuleEnd,
    ProjectContext,
    ProjectFacts,
    PythonContext,
    Severity,
    project_rule,
)
from prodready.plugin.analysis import django_query, dotted, same_dotted_name

_SERIALIZER_BASES = frozenset({"ModelSerializer", "HyperlinkedModelSerializer"})
_LIST_VIEWS = frozenset(
    {"ListAPIView", "ListCreateAPIView", "ModelViewSet", "ReadOnlyModelViewSet"}
    | {"ListModelMixin"}
)
_RELATION_FIELDS = frozenset({"ForeignKey", "OneToOneField", "ManyToManyField"})
# Methods of a related manager: ``obj.items.all()`` runs one query per row.
_MANAGER_CALLS = frozenset(
    {"all", "count", "filter", "exists", "first", "last", "values_list", "values"}
)
_LOADERS = frozenset({"select_related", "prefetch_related"})


def _last(expr: ast.expr, ctx: PythonContext) -> str:
    return (ctx.qualname(expr) or dotted(expr) or "").rsplit(".", 1)[-1]


def _qualified(expr: ast.expr, ctx: PythonContext) -> str:
    """``app.models.Order`` for an imported name, ``<module>.Order`` for a local one."""
    name = ctx.qualname(expr) or dotted(expr) or ""
    if name and "." not in name and ctx.facts.module:
        return f"{ctx.facts.module}.{name}"
    return name


def _collect(node: ast.AST, ctx: PythonContext) -> list[Mark] | None:
    if ctx.facts.is_test or not isinstance(node, ast.Module):
        return None
    found: list[Mark] = []
    for statement in node.body:
        if not isinstance(statement, ast.ClassDef):
            continue
        bases = {_last(base, ctx) for base in statement.bases}
        if bases & _SERIALIZER_BASES:
            found.extend(_serializer(statement, ctx))
        elif bases & _LIST_VIEWS:
            found.extend(_view(statement, ctx))
        elif "Model" in bases:
            found.extend(_model(statement, ctx))
    return found


def _model(node: ast.ClassDef, ctx: PythonContext) -> list[Mark]:
    """A Django model's relations: its own relation fields, and the reverse accessors
    (``related_name``) it gives the models it points to."""
    found: list[Mark] = []
    name = _qualified(ast.Name(node.name), ctx)
    for statement in node.body:
        if not (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.Call)
            and _last(statement.value.func, ctx) in _RELATION_FIELDS
        ):
            continue
        field = statement.targets[0].id
        many = _last(statement.value.func, ctx) == "ManyToManyField"
        forward = "prefetch_related" if many else "select_related"
        found.append(
            Mark.of("relation", statement.lineno, name=_short(name), field=field, load=forward)
        )
        target = statement.value.args[0] if statement.value.args else None
        related = next((k.value for k in statement.value.keywords if k.arg == "related_name"), None)
        if target is not None and isinstance(related, ast.Constant):
            other = target.value if isinstance(target, ast.Constant) else dotted(target)
            if isinstance(other, str) and isinstance(related.value, str):
                found.append(
                    Mark.of(
                        "relation",
                        statement.lineno,
                        name=_short(other),
                        field=related.value,
                        load="prefetch_related",
                    )
                )
    return found


def _serializer(node: ast.ClassDef, ctx: PythonContext) -> list[Mark]:
    """The model a ModelSerializer serializes and the attributes of each row its method
    fields and ``source=`` fields read through: ``obj.doctor.name`` reads ``doctor``."""
    model = ""
    reads: dict[str, int] = {}
    for statement in node.body:
        if isinstance(statement, ast.ClassDef) and statement.name == "Meta":
            for item in statement.body:
                if (
                    isinstance(item, ast.Assign)
                    and isinstance(item.targets[0], ast.Name)
                    and item.targets[0].id == "model"
                ):
                    model = _qualified(item.value, ctx)
        elif isinstance(statement, ast.FunctionDef) and statement.name.startswith("get_"):
            args = statement.args.args
            if len(args) != 2:
                continue
            row = args[1].arg
            for inner in ast.walk(statement):
                relation = _relation_read(inner, row)
                if relation is not None:
                    reads.setdefault(relation, inner.lineno)  # type: ignore[attr-defined]
        elif isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call):
            for keyword in statement.value.keywords:
                if (
                    keyword.arg == "source"
                    and isinstance(keyword.value, ast.Constant)
                    and isinstance(keyword.value.value, str)
                    and "." in keyword.value.value
                ):
                    reads.setdefault(keyword.value.value.split(".")[0], statement.lineno)
    if not model or not reads:
        return []
    name = _qualified(ast.Name(node.name), ctx)
    return [
        Mark.of("serializer", line, name=name, model=model, field=field)
        for field, line in reads.items()
    ]


def _relation_read(node: ast.AST, row: str) -> str | None:
    """``row.<a>.<b>`` (an attribute of an attribute, not a method call) or
    ``row.<a>.all()``: ``a``."""
    if not isinstance(node, ast.Attribute):
        return None
    inner = node.value
    if not (
        isinstance(inner, ast.Attribute)
        and isinstance(inner.value, ast.Name)
        and inner.value.id == row
    ):
        return None
    if inner.attr.startswith("_") or node.attr.startswith("_"):
        return None
    return inner.attr


def _view(node: ast.ClassDef, ctx: PythonContext) -> list[Mark]:
    serializer = ""
    queryset: ast.expr | None = None
    for statement in node.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef) and statement.name in {
            "get_queryset",
            "list",
            "get_serializer_class",
        }:
            return []  # what it loads or serializes is decided in code
        if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
            if statement.targets[0].id == "serializer_class":
                serializer = _qualified(statement.value, ctx)
            elif statement.targets[0].id == "queryset":
                queryset = statement.value
    if not serializer or queryset is None:
        return []
    chain = django_query(queryset)
    if chain is None:
        return []
    loaded: list[str] = []
    for call in chain.calls:
        method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
        if method not in _LOADERS:
            continue
        if method == "select_related" and not call.args:
            loaded.append("*")
        for argument in call.args:
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                loaded.append(argument.value.split("__")[0])
            else:
                loaded.append("*")  # a Prefetch object or a computed name: not judged
    return [
        Mark.of(
            "view",
            queryset.lineno,
            name=node.name,
            serializer=serializer,
            loaded=",".join(loaded),
        )
    ]


def _short(model: str) -> str:
    """Models are matched by class name: Django refers to them as ``"app_label.Model"``,
    imports as ``pkg.models.Model``."""
    return model.rsplit(".", 1)[-1]


@project_rule(
    code="DAT008",
    name="serializer-relation-per-row",
    category=Category.DATA_ACCESS,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="DRF list view's serializer reads a relation per row the queryset does not load",
    nodes=(ModuleEnd,),
    collect=_collect,
    fix='Load the relations with the rows: queryset = Model.objects.select_related("fk") '
    '(foreign keys, one-to-one) / .prefetch_related("items") (reverse and many-to-many).',
)
def serializer_relation_per_row(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a Django REST framework list view (`ModelViewSet`, `ReadOnlyModelViewSet`,
    `ListAPIView`, `ListModelMixin`...) whose `serializer_class` reads a relation of each row
    -- a `SerializerMethodField` method reading `obj.customer.name` or `obj.items.all()`, a
    field with `source="customer.name"` -- when the view's `queryset` loads that relation
    with neither `select_related()` nor `prefetch_related()`. The relation must be a
    `ForeignKey`/`OneToOneField`/`ManyToManyField` of the serializer's model, or a
    `related_name` pointing to it, found anywhere in the project. Views that build their
    queryset or pick their serializer in code (`get_queryset()`, `get_serializer_class()`)
    are not judged.

    ## Why it breaks production
    The serializer runs once per row: each read of a relation that was not loaded with the
    rows is one more query. A page of 100 orders costs 101 (or 201) round trips instead of
    one; latency grows with the page size and the table, the database's connection pool
    fills under load, and the endpoint that was instant in development times out in
    production.

    ## Example
    ```python
    class OrderSerializer(serializers.ModelSerializer):
        customer_name = serializers.SerializerMethodField()

        def get_customer_name(self, obj):
            return obj.customer.name

    class OrderViewSet(viewsets.ReadOnlyModelViewSet):
        queryset = Order.objects.order_by("-created")
        serializer_class = OrderSerializer
    ```

    ## Use instead
    ```python
    class OrderViewSet(viewsets.ReadOnlyModelViewSet):
        queryset = Order.objects.select_related("customer").order_by("-created")
        serializer_class = OrderSerializer
    ```
    """
    relations: dict[str, dict[str, str]] = {}  # model -> relation -> how to load it
    serializers: dict[str, list[tuple[str, str, str, int]]] = {}
    views: list[tuple[str, int, str, str, set[str]]] = []
    for evidence in project.evidence("DAT008"):
        if evidence.kind == "relation":
            relations.setdefault(evidence.name, {})[evidence.text("field")] = evidence.text("load")
        elif evidence.kind == "serializer":
            serializers.setdefault(evidence.name, []).append(
                (evidence.text("model"), evidence.text("field"), evidence.path, evidence.line)
            )
        elif evidence.kind == "view":
            loaded = set(filter(None, evidence.text("loaded").split(",")))
            views.append(
                (evidence.path, evidence.line, evidence.name, evidence.text("serializer"), loaded)
            )
    for path, line, view, serializer, loaded in views:
        if "*" in loaded:
            continue
        reads = next((v for k, v in serializers.items() if same_dotted_name(serializer, k)), [])
        missing: list[tuple[str, str, int, str]] = []
        for model, field, where, at in reads:
            fields = relations.get(_short(model), {})
            if field.endswith("_set"):
                fields = {**fields, field: "prefetch_related"}
            if field in fields and field not in loaded:
                missing.append((field, where, at, fields[field]))
        if not missing:
            continue
        _, where, at, _ = missing[0]
        loads = {
            method: ", ".join(f'"{f}"' for f, _, _, how in missing if how == method)
            for method in ("select_related", "prefetch_related")
        }
        fix = " and ".join(f"{method}({names})" for method, names in loads.items() if names)
        ctx.report(
            path,
            line,
            f"{view} serializes each row with {serializer.rsplit('.', 1)[-1]}, which reads "
            f"{' and '.join(f'.{f}' for f, _, _, _ in missing)} of it ({where}:{at}), but the "
            "queryset does not load it with the rows: one extra query per row (N+1). Add "
            f"{fix} to the queryset",
        )
