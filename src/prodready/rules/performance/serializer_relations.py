"""Performance: Django REST framework serializers that read relations of every row of a list
whose queryset loads none of them (PRF020, the N+1 pattern through a serializer).

A serializer reads a relation per object when it nests another serializer
(``guests = GuestSerializer(many=True)``), names a field through a relation
(``source="room_type.hotel.name"``), uses a related field that reads the other row
(``StringRelatedField``, ``SlugRelatedField``), or reads ``obj.doctor.name`` /
``obj.items.all()`` in a ``get_<field>()`` method. Serializing a list runs those reads once per
row: 1 + N (x relations) queries unless the queryset joins them (``select_related``) or
prefetches them (``prefetch_related``). Relations read through ``source=`` and methods are
checked against the project's models (a ``ForeignKey``/``OneToOneField``/``ManyToManyField``,
or the ``related_name`` of one pointing at the model), so a JSON column or a property is not
taken for a relation.
"""

from __future__ import annotations

import ast
from collections import defaultdict

from prodready.plugin import (
    Category,
    Confidence,
    Evidence,
    FunctionEnd,
    Mark,
    ProjectContext,
    ProjectFacts,
    PythonContext,
    Severity,
    project_rule,
)
from prodready.plugin.analysis import constant_str, django_query, keyword_value

_RELATION_FACTORIES = frozenset(
    {"ForeignKey", "OneToOneField", "ManyToManyField", "ParentalKey", "TreeForeignKey"}
)
_LIST_VIEWS = frozenset(
    {"ListAPIView", "ListCreateAPIView", "ModelViewSet", "ReadOnlyModelViewSet"}
    | {"ListModelMixin"}
)
# Django REST framework's own view classes: what they load is the view's ``queryset``.
_DRF_BASES = _LIST_VIEWS | frozenset(
    {"GenericViewSet", "GenericAPIView", "ViewSetMixin", "CreateModelMixin", "RetrieveModelMixin"}
    | {"UpdateModelMixin", "DestroyModelMixin", "RetrieveUpdateDestroyAPIView"}
)
# Strategies that load the relations of the listed rows up front.
_EAGER_WORDS = ("select_related", "prefetch_related", "Prefetch(", "annotate(")
# What a ``get_queryset()`` may call and still be seen whole: query steps on the class's
# queryset and reads of the request. Anything else (a project helper, a permission filter of a
# library) may load relations the rule cannot see.
_VISIBLE_STEPS = frozenset(
    {"filter", "exclude", "order_by", "extra", "all", "distinct", "get_queryset", "get"}
    | {"none", "only", "defer", "using", "super", "Q", "F", "int", "str", "bool", "getattr"}
)
# Related fields that read the other row for each object (PrimaryKeyRelatedField reads the key).
_READING_RELATED_FIELDS = frozenset(
    {"StringRelatedField", "SlugRelatedField", "HyperlinkedRelatedField", "RelatedField"}
)
# Manager calls that run a query on a relation.
_MANAGER_QUERIES = frozenset({"all", "count", "filter", "exclude", "exists", "first", "last"})


def _short(expr: ast.AST | None) -> str:
    """The last name of ``a.b.C`` / ``super().get_queryset`` / ``C``."""
    if isinstance(expr, ast.Attribute):
        return expr.attr
    if isinstance(expr, ast.Name):
        return expr.id
    return ""


def _base_names(node: ast.ClassDef) -> list[str]:
    return [_short(base) for base in node.bases]


def _collect(node: ast.AST, ctx: PythonContext) -> list[Mark] | None:
    if ctx.facts.is_test or ctx.facts.is_example:
        return None
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        text = ctx.segment(node)
        if "Serializer" not in text or any(word in text for word in _EAGER_WORDS):
            return None  # the function loads relations somewhere: which rows get them is unsure
        found_calls = [
            _many_mark(inner, node.name, ctx)
            for inner in ast.walk(node)
            if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name | ast.Attribute)
        ]
        return [mark for mark in found_calls if mark is not None] or None
    if not isinstance(node, ast.ClassDef):
        return None
    found = _model_marks(node)
    bases = _base_names(node)
    if any(base.endswith("Serializer") for base in bases):
        found.append(_serializer_mark(node, bases))
    elif any(base in _LIST_VIEWS for base in bases):
        view = _view_mark(node, ctx)
        if view is not None:
            found.append(view)
    return found or None


def _model_marks(node: ast.ClassDef) -> list[Mark]:
    """A Django model's relation fields, and the names its foreign keys give the other side."""
    forward: list[str] = []
    found: list[Mark] = []
    for statement in node.body:
        if not (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.Call)
            and _short(statement.value.func) in _RELATION_FACTORIES
        ):
            continue
        call = statement.value
        forward.append(statement.targets[0].id)
        target = call.args[0] if call.args else keyword_value(call, "to")
        target_name = constant_str(target) if target is not None else None
        other = (target_name or _short(target)).rsplit(".", 1)[-1]
        related = constant_str(keyword_value(call, "related_name"))
        if other == "self":
            other = node.name
        if other and related and not related.endswith("+") and "%" not in related:
            found.append(Mark.of("reverse", statement.lineno, name=other, related=related))
        elif other:
            found.append(
                Mark.of("reverse", statement.lineno, name=other, related=f"{node.name.lower()}_set")
            )
    if forward:
        found.append(Mark.of("model", node.lineno, name=node.name, fields=",".join(forward)))
    return found


def _serializer_mark(node: ast.ClassDef, bases: list[str]) -> Mark:
    nested: list[str] = []  # relations read whatever the model says
    through: list[str] = []  # names that read a relation if the model has one of that name
    model = ""
    for statement in node.body:
        if isinstance(statement, ast.ClassDef) and statement.name == "Meta":
            for item in statement.body:
                if (
                    isinstance(item, ast.Assign)
                    and len(item.targets) == 1
                    and isinstance(item.targets[0], ast.Name)
                    and item.targets[0].id == "model"
                ):
                    model = _short(item.value)
        elif (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.Call)
        ):
            field_name = statement.targets[0].id
            call = statement.value
            kind = _short(call.func)
            source = constant_str(keyword_value(call, "source"))
            if source == "*":
                continue
            first = (source or field_name).split(".", 1)[0]
            if kind.endswith("Serializer") or kind in _READING_RELATED_FIELDS:
                nested.append(first)
            elif source and "." in source:
                through.append(first)
        elif isinstance(statement, ast.FunctionDef) and statement.name.startswith("get_"):
            through.extend(_relations_read(statement))
    return Mark.of(
        "serializer",
        node.lineno,
        name=node.name,
        model=model,
        nested=",".join(dict.fromkeys(nested)),
        through=",".join(dict.fromkeys(through)),
        bases=",".join(bases),
    )


def _relations_read(method: ast.FunctionDef) -> list[str]:
    """``get_x(self, obj)``: the attributes of ``obj`` it reads through (``obj.doctor.name``,
    ``obj.items.all()``)."""
    arguments = method.args.args
    if len(arguments) < 2:
        return []
    row = arguments[1].arg
    found: list[str] = []
    for node in ast.walk(method):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == row
        ):
            found.append(node.value.attr)
    return found


def _view_mark(node: ast.ClassDef, ctx: PythonContext) -> Mark | None:
    """A DRF list view's serializer and what loads its rows, when the view shows it: no
    loading strategy, no ``list()`` or serializer choice of its own, and a ``get_queryset()``
    (if any) that only filters and orders -- the ``queryset`` attribute is then a placeholder.
    A project base class (a mixin) may load relations or pick the rows itself: such a view
    is judged only when its own ``get_queryset()`` does not call the base's."""
    text = ctx.segment(node)
    if any(word in text for word in _EAGER_WORDS):
        return None
    project_base = any(base not in _DRF_BASES for base in _base_names(node))
    serializer = ""
    queryset: ast.Assign | None = None
    own_queryset: ast.FunctionDef | None = None
    for statement in node.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            if statement.name in {"list", "get_serializer_class", "get_serializer"}:
                return None
            if statement.name == "get_queryset" and isinstance(statement, ast.FunctionDef):
                if not _only_filters(statement, project_base):
                    return None
                own_queryset = statement
        elif (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            target = statement.targets[0].id
            if target == "serializer_class":
                serializer = _short(statement.value)
            elif target == "queryset":
                queryset = statement
    if not serializer:
        return None
    chain = django_query(queryset.value) if queryset is not None else None
    if chain is not None and (chain.sliced or "none" in chain.steps):
        chain = None  # a placeholder (or a slice): get_queryset() alone loads the rows
    if own_queryset is not None and not (chain is not None and _extends_base(own_queryset)):
        return Mark.of("view", own_queryset.lineno, name=serializer, view=node.name, model="")
    if queryset is None or chain is None or project_base:
        return None
    # The rows are the ``queryset`` attribute's (filtered by get_queryset()): the loading
    # strategy belongs there.
    model = chain.model or ""
    return Mark.of("view", queryset.lineno, name=serializer, view=node.name, model=model)


def _extends_base(method: ast.FunctionDef) -> bool:
    """``get_queryset()`` starts from ``super().get_queryset()`` or ``self.queryset``."""
    for node in ast.walk(method):
        if isinstance(node, ast.Attribute) and node.attr in {"get_queryset", "queryset"}:
            return True
    return False


def _only_filters(method: ast.FunctionDef, project_base: bool) -> bool:
    for node in ast.walk(method):
        if isinstance(node, ast.Call):
            called = _short(node.func)
            if called not in _VISIBLE_STEPS or (project_base and called == "super"):
                return False
    return True


def _many_mark(node: ast.Call, function: str, ctx: PythonContext) -> Mark | None:
    """``BookingSerializer(qs, many=True)`` on a queryset that loads no relation."""
    name = _short(node.func)
    if not name.endswith("Serializer") or not node.args:
        return None
    many = keyword_value(node, "many")
    if not (isinstance(many, ast.Constant) and many.value is True):
        return None
    rows: ast.AST | None = node.args[0]
    for _ in range(3):
        if not isinstance(rows, ast.Name):
            break
        rows = ctx.value_of(rows.id)
    chain = django_query(rows) if rows is not None else None
    if chain is None:
        return None
    return Mark.of("many", node.lineno, name=name, view=function, model=chain.model or "")


@project_rule(
    code="PRF020",
    name="serializer-relations-per-row",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="DRF serializer reads relations of every listed row; the queryset loads none",
    nodes=(ast.ClassDef, FunctionEnd),
    collect=_collect,
    fix="Load the relations with the rows: queryset = Model.objects.select_related(...) for "
    "foreign keys, .prefetch_related(...) for nested many=True serializers and reverse "
    "relations.",
)
def serializer_relations_per_row(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a Django REST framework list -- a `ModelViewSet`/`ListAPIView`/`ReadOnlyModelViewSet`
    (or `ListModelMixin`) whose `queryset`, or a `Serializer(queryset, many=True)` call --
    when the serializer reads a relation of each row and the queryset neither
    `select_related()` nor `prefetch_related()` it: a nested serializer
    (`guests = GuestSerializer(many=True)`), a `source=` through a relation
    (`source="room_type.hotel.name"`), a `StringRelatedField`/`SlugRelatedField`, or a
    `get_<field>(self, obj)` method reading `obj.doctor.name` / `obj.items.all()`. Relations
    read through `source=` and methods must be relation fields (or `related_name`s) of the
    project's models. Views that choose their serializer or override `list()`, and
    `get_queryset()` methods calling anything but query steps, are left alone.

    ## Why it breaks production
    Each row's relation is a query of its own: a page of 100 bookings with a nested guest
    list and a hotel name is 201 queries. It looks fine on a developer's ten rows and turns
    the endpoint into the slowest of the service -- and a load on the database -- once real
    data arrives.

    ## Example
    ```python
    class AppointmentSerializer(serializers.ModelSerializer):
        doctor_name = serializers.CharField(source="doctor.name")

    class AppointmentViewSet(viewsets.ModelViewSet):
        queryset = Appointment.objects.all()
        serializer_class = AppointmentSerializer
    ```

    ## Use instead
    ```python
    class AppointmentViewSet(viewsets.ModelViewSet):
        queryset = Appointment.objects.select_related("doctor")
        serializer_class = AppointmentSerializer
    ```
    """
    relations: dict[str, set[str]] = defaultdict(set)
    serializers: dict[str, list[Evidence]] = defaultdict(list)
    lists: list[tuple[str, Evidence]] = []
    for evidence in project.evidence("PRF020"):
        if evidence.kind == "model":
            relations[evidence.name].update(filter(None, evidence.text("fields").split(",")))
        elif evidence.kind == "reverse":
            relations[evidence.name].add(evidence.text("related"))
        elif evidence.kind == "serializer":
            serializers[evidence.name].append(evidence)
        elif evidence.kind in {"view", "many"}:
            lists.append((evidence.path, evidence))
    for path, listing in lists:
        found = serializers.get(listing.name, [])
        if len(found) != 1:
            continue  # unknown, or two project serializers of that name
        reads = _reads(found[0], serializers, relations, depth=0)
        if not reads:
            continue
        model = listing.text("model") or found[0].text("model")
        where = (
            f"{listing.text('view')} lists"
            if listing.kind == "view"
            else f"{listing.text('view')}() serializes"
        )
        ctx.report(
            path,
            listing.line,
            f"{where} {model or 'the'} rows with {listing.name}, which reads "
            f"{', '.join(reads)} of every row, and the queryset loads none of them "
            "(no select_related()/prefetch_related()): one more query per row and relation "
            "on every page. Load them with the rows",
        )


def _reads(
    serializer: Evidence,
    serializers: dict[str, list[Evidence]],
    relations: dict[str, set[str]],
    depth: int,
) -> list[str]:
    model = serializer.text("model")
    known = relations.get(model, set())
    found = [name for name in serializer.text("nested").split(",") if name]
    found += [name for name in serializer.text("through").split(",") if name and name in known]
    if depth < 3:
        for base in serializer.text("bases").split(","):
            parents = serializers.get(base, [])
            if len(parents) == 1 and parents[0] is not serializer:
                found += _reads(parents[0], serializers, relations, depth + 1)
    return list(dict.fromkeys(found))
