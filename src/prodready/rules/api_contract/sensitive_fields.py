"""API contract: every column of a model with secret or personal columns serialized (API005)."""

from __future__ import annotations

import ast
import re
from collections import deque

from prodready.plugin import (
    Category,
    Confidence,
    Evidence,
    FunctionEnd,
    Mark,
    ModuleEnd,
    ProjectContext,
    ProjectFacts,
    PythonContext,
    Severity,
    project_rule,
)
from prodready.plugin.analysis import django_query, dotted, has_keyword, sqlalchemy_query
from prodready.rules._service import _NOT_RUNTIME_DIRS as _NOT_RUNTIME
from prodready.rules._service import _in_dirs

# -- API005 ---------------------------------------------------------------------------------------

# Parts of a column name (split on "_") that make it a secret or special-category personal data.
_SENSITIVE_PARTS = frozenset(
    {"password", "passwd", "secret", "ssn", "salt", "cvv", "cvc", "iban", "otp", "totp", "mfa"}
    | {"credential", "credentials", "insurance", "medical", "diagnosis", "diagnoses"}
)
_SENSITIVE_PAIRS = re.compile(
    r"(^|_)(api_?key|access_key|private_key|secret_key|account_key|signing_key|card_number"
    r"|account_number|routing_number|social_security|tax_id)(_|$)"
)
_FLAG_PREFIXES = ("is_", "has_", "use_", "uses_", "requires_", "num_", "max_", "min_")
_COLUMN_CALLS = re.compile(r"(Field|^mapped_column|^Column|^column_property)$")
_SERIALIZER_BASES = frozenset({"ModelSerializer", "HyperlinkedModelSerializer"})
_AUTO_SCHEMAS = frozenset({"SQLAlchemyAutoSchema", "ModelSchema"})
_MODEL_DUMPS = frozenset({"model_to_dict"})
# Instance-returning query terminals (Django managers/querysets, SQLAlchemy Query/Session).
_INSTANCE_STEPS = frozenset(
    {"get", "first", "last", "earliest", "latest", "aget", "afirst", "alast", "one"}
    | {"one_or_none", "scalar_one", "scalar_one_or_none", "scalar", "get_one", "create"}
    | {"get_or_404", "first_or_404", "one_or_404", "acreate"}
)
_COLUMN_LISTS = re.compile(
    r"__table__\.(columns|c)$|__mapper__\.(columns|column_attrs|attrs)$|_meta\.(fields"
    r"|concrete_fields|get_fields)$|mapper\.(column_attrs|columns|attrs)$"
)


def sensitive(column: str) -> bool:
    """``password_hash``, ``reset_token``, ``insurance_number``, ``aws_secret_access_key`` --
    not flags or counters about them (``is_secret``, ``max_tokens``)."""
    name = column.lower().lstrip("_")
    if name.startswith(_FLAG_PREFIXES):
        return False
    parts = name.split("_")
    return (
        bool(_SENSITIVE_PARTS.intersection(parts))
        or parts[-1] == "token"
        or bool(_SENSITIVE_PAIRS.search(name))
    )


def _last(expr: ast.expr) -> str:
    return (dotted(expr) or "").rsplit(".", 1)[-1]


def _collect(node: ast.AST, ctx: PythonContext) -> list[Mark] | None:
    if ctx.facts.is_test:
        return None
    if isinstance(node, ast.Module):
        found: list[Mark] = []
        for statement in _statements(node):
            if isinstance(statement, ast.ClassDef):
                found.extend(_model(statement))
                found.extend(_serializer(statement))
        return found
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return _function_dumps(node, ctx)
    return None


_STATEMENT_LIKE = (ast.stmt, ast.excepthandler, ast.match_case)


def _statements(module: ast.Module) -> list[ast.AST]:
    """The module's statements at any depth, in ``ast.walk`` order: a class is a statement, so
    the expressions (most of the tree) need not be walked to find every class."""
    found: list[ast.AST] = [module]
    queue: deque[ast.AST] = deque([module])
    while queue:
        for child in ast.iter_child_nodes(queue.popleft()):
            if isinstance(child, _STATEMENT_LIKE):
                found.append(child)
                queue.append(child)
    return found


# Fields that hold no node this rule looks at (names, flags, and ``ctx``: Load/Store leaves).
_NOT_WALKED = frozenset(
    {"id", "attr", "arg", "name", "module", "level", "is_async", "type_comment", "kind", "ctx"}
    | {"conversion", "simple", "tag", "rest", "kwd_attrs", "names"}
)
_WALKED_FIELDS: dict[type, tuple[str, ...]] = {}
_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef)


def _own_walk(function: ast.AST) -> list[ast.AST]:
    """The function's nodes in ``ast.walk`` order, without the functions nested in it (their
    own FunctionEnd collects them): one pass instead of a walk per nested function. (Leaves
    without a line -- ``Load``, ``Store``, import aliases -- are left out: nothing here looks
    at them.)"""
    found: list[ast.AST] = [function]
    append = found.append
    node_type = ast.AST
    index = 0
    while index < len(found):
        node = found[index]
        index += 1
        fields = _WALKED_FIELDS.get(node.__class__)
        if fields is None:
            fields = _WALKED_FIELDS[node.__class__] = tuple(
                f for f in node._fields if f not in _NOT_WALKED
            )
        for field in fields:
            value = getattr(node, field, None)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, node_type) and not isinstance(item, _NESTED):
                        append(item)
            elif isinstance(value, node_type) and not isinstance(value, _NESTED):
                append(value)
    return found


def _model(node: ast.ClassDef) -> list[Mark]:
    """A Django, SQLAlchemy or SQLModel model class and its sensitive columns."""
    columns: list[str] = []
    is_model = False
    for statement in node.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign):
            target, value = statement.target, statement.value
            if _last(getattr(statement.annotation, "value", statement.annotation)) == "Mapped":
                is_model = True
        if not isinstance(target, ast.Name):
            continue
        if target.id == "__tablename__":
            is_model = True
        column = isinstance(value, ast.Call) and bool(_COLUMN_CALLS.search(_last(value.func)))
        is_model = is_model or column
        if (column or isinstance(statement, ast.AnnAssign)) and sensitive(target.id):
            columns.append(target.id)
    if any(k.arg == "table" for k in node.keywords):
        is_model = True  # SQLModel(table=True)
    if not is_model or not columns:
        return []
    return [Mark.of("model", node.lineno, name=node.name, columns=",".join(columns))]


def _serializer(node: ast.ClassDef) -> list[Mark]:
    """A DRF ModelSerializer with ``fields = "__all__"`` or a marshmallow-sqlalchemy auto
    schema without ``fields``/``exclude``: every column of its model, in and out. A class on a
    project base (which may drop fields) or with its own ``to_representation`` is not judged."""
    bases = {_last(base) for base in node.bases}
    if not bases or not (bases <= _SERIALIZER_BASES or bases <= _AUTO_SCHEMAS):
        return []
    declared: set[str] = set()
    meta: ast.ClassDef | None = None
    for statement in node.body:
        if isinstance(statement, ast.ClassDef) and statement.name == "Meta":
            meta = statement
        elif isinstance(statement, ast.FunctionDef) and statement.name == "to_representation":
            return []
        elif isinstance(statement, ast.FunctionDef) and _constructor_limits_fields(statement):
            return []  # ``kwargs["only"] = self.views[view]``: each instance sends its list
        elif isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            declared.update(t.id for t in targets if isinstance(t, ast.Name))
    if meta is None:
        return []
    options: dict[str, ast.expr] = {}
    lines: dict[str, int] = {}
    for item in meta.body:
        if isinstance(item, ast.Assign) and isinstance(item.targets[0], ast.Name):
            options[item.targets[0].id] = item.value
            lines[item.targets[0].id] = item.lineno
    model = options.get("model")
    if model is None:
        return []
    for option in ("exclude", "load_only"):  # the columns left out of the output
        if option in options:
            names = _literal_names(options[option])
            if names is None:
                return []  # computed: it may leave out anything
            declared.update(names)
    if "exclude" in options and "fields" not in options:
        line, how = lines["exclude"], "exclude = [...] lists what is left out, not what is sent"
    elif bases <= _SERIALIZER_BASES:
        fields = options.get("fields")
        if not (isinstance(fields, ast.Constant) and fields.value == "__all__"):
            return []
        line, how = lines["fields"], 'fields = "__all__"'
        hidden = options.get("extra_kwargs")
        if isinstance(hidden, ast.Dict):
            declared.update(
                k.value
                for k in hidden.keys
                if isinstance(k, ast.Constant) and isinstance(k.value, str)
            )
    else:
        if "fields" in options:
            return []
        line, how = lines["model"], "an auto schema without fields/exclude"
    return [
        Mark.of(
            "serializer",
            line,
            name=_last(model),
            serializer=node.name,
            how=how,
            declared=",".join(sorted(declared)),
        )
    ]


_FIELD_LIMITS = frozenset({"only", "exclude", "fields"})


def _constructor_limits_fields(function: ast.FunctionDef) -> bool:
    """A serializer's ``__init__`` that chooses the fields of each instance: it sets
    ``kwargs["only"]``/``["exclude"]`` or passes ``only=``/``exclude=`` on (marshmallow's
    per-instance field lists)."""
    if function.name != "__init__":
        return False
    for node in ast.walk(function):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            if isinstance(node.slice, ast.Constant) and node.slice.value in _FIELD_LIMITS:
                return True
        elif isinstance(node, ast.Call) and any(k.arg in _FIELD_LIMITS for k in node.keywords):
            return True
    return False


def _literal_names(expr: ast.expr) -> set[str] | None:
    if not isinstance(expr, ast.List | ast.Tuple | ast.Set):
        return None
    names = {item.value for item in expr.elts if isinstance(item, ast.Constant)}
    if len(names) != len(expr.elts) or not all(isinstance(name, str) for name in names):
        return None
    return {name for name in names if isinstance(name, str)}


# The only node classes _function_dumps looks at (none of them has a subclass).
_DUMP_OR_CALL = frozenset({ast.Attribute, ast.Call, ast.DictComp})


def _function_dumps(
    function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> list[Mark]:
    """Dumps of every attribute of a model instance in this function (``model_to_dict(user)``,
    ``user.__dict__``, ``vars(user)``, a comprehension over ``user.__table__.columns``), the
    parameters it dumps that way (a ``row_to_dict(obj)`` helper), and its calls of a function
    with a model instance (matched against the helpers at project level)."""
    found: list[Mark] = []
    params = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    # The model of the instance a name holds, per name: what a name is bound to does not
    # change while one function's end is judged.
    models: dict[str, str | None] = {}

    def named_model(name: ast.Name) -> str | None:
        if name.id in models:
            return models[name.id]
        model = models[name.id] = _instance_model(name, ctx)
        return model

    for node in _own_walk(function):
        if node.__class__ not in _DUMP_OR_CALL:
            continue  # one test for the many nodes that neither dump nor call
        line = getattr(node, "lineno", function.lineno)
        dumped = _dumped(node, ctx)
        if dumped is not None:
            subject, how = dumped
            if isinstance(subject, ast.Name) and subject.id in params:
                position = params.index(subject.id)
                owner = _owner(function, ctx) if position == 0 and subject.id == "self" else ""
                found.append(
                    Mark.of("helper", line, name=function.name, position=position, owner=owner)
                )
                continue
            model = _instance_model(subject, ctx)
            if model is not None:
                found.append(Mark.of("dump", line, name=model, how=how))
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute):
            for position, argument in enumerate(node.args):
                model = named_model(argument) if isinstance(argument, ast.Name) else None
                if model is not None:
                    callee = _last(node.func)
                    found.append(
                        Mark.of("call", line, name=model, callee=callee, position=position)
                    )
            receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
            model = named_model(receiver) if isinstance(receiver, ast.Name) else None
            if model is not None and isinstance(node.func, ast.Attribute):
                found.append(  # user.to_dict(): a method of the model that dumps self
                    Mark.of("call", line, name=model, callee=node.func.attr, owner=model)
                )
    return found


def _owner(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> str:
    """The class a method dumping ``self`` is defined on: only its own instances match
    (``order.save()`` is not ``Invoice.save()``)."""
    scope = ctx.function
    if scope is None or scope.node is not function or scope.class_info is None:
        return ""
    return scope.class_info.node.name


def _dumped(node: ast.AST, ctx: PythonContext) -> tuple[ast.expr, str] | None:
    """(the object, how) when ``node`` copies every attribute of one object."""
    if isinstance(node, ast.Attribute) and node.attr == "__dict__":
        return node.value, "__dict__"
    if isinstance(node, ast.Call) and len(node.args) == 1:
        name = _last(node.func)
        if name == "vars" and isinstance(node.func, ast.Name):
            return node.args[0], "vars()"
        if name in _MODEL_DUMPS and not has_keyword(node, "fields", "exclude"):
            return node.args[0], f"{name}()"
    if isinstance(node, ast.DictComp) and len(node.generators) == 1:
        source = node.generators[0].iter
        if isinstance(source, ast.Call):
            source = source.func  # _meta.get_fields()
        text = dotted(source) or ""
        value = node.value
        if (
            _COLUMN_LISTS.search(text)
            and isinstance(value, ast.Call)
            and _last(value.func) == "getattr"
            and value.args
        ):
            return value.args[0], "a dict of every column"
    return None


def _instance_model(expr: ast.expr, ctx: PythonContext) -> str | None:
    """The model class an instance held by ``expr`` belongs to, as far as this function shows:
    a query for one row, or a constructor call of a capitalised class (matched against the
    project's models later)."""
    for _ in range(3):
        if isinstance(expr, ast.Await):
            expr = expr.value
        if not isinstance(expr, ast.Name):
            break
        value = ctx.value_of(expr.id)
        if value is None or value is expr:
            return None
        expr = value
    if not isinstance(expr, ast.Call):
        return None
    if _last(expr.func) in {"get_object_or_404", "aget_object_or_404"} and expr.args:
        return _last(expr.args[0]) or None
    chain = django_query(expr) or sqlalchemy_query(expr, ctx)
    if chain is not None:
        if chain.model is None or chain.terminal not in _INSTANCE_STEPS:
            return None
        if chain.statement is not None and not any(s.startswith("scalar") for s in chain.steps):
            return None
        return chain.model.rsplit(".", 1)[-1]
    name = _last(expr.func)
    return name if isinstance(expr.func, ast.Name) and name[:1].isupper() else None


@project_rule(
    code="API005",
    name="sensitive-columns-serialized",
    category=Category.API_CONTRACT,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    summary="Every column of a model with secret or personal columns is serialized wholesale",
    nodes=(ModuleEnd, FunctionEnd),
    collect=_collect,
    cwe=200,
    fix="List the fields the client may see (fields = [...], an output schema, an explicit "
    "dict); keep secrets write-only or out of the serializer.",
)
def sensitive_columns_serialized(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags code that serializes every column of a model which has secret or special-category
    columns -- password hashes, tokens, API and access keys, credentials, card or account
    numbers, insurance numbers, medical notes:
    - a Django REST framework `ModelSerializer` with `fields = "__all__"` or an `exclude`
      list that leaves the column in (no `to_representation`, the column not redeclared or
      made `write_only` in `extra_kwargs`), a marshmallow-sqlalchemy `SQLAlchemyAutoSchema`
      without `fields` whose `exclude`/`load_only` do not name the column (a schema whose
      constructor sets `only=`/`exclude=` per instance, e.g. from a dict of per-view field
      lists, sends what each caller chooses and is not judged);
    - `model_to_dict(obj)` without `fields`/`exclude`, `obj.__dict__`, `vars(obj)`, or a dict
      built over `obj.__table__.columns` / `obj._meta.fields` when `obj` is an instance of
      such a model (a row fetched by a query, `get_object_or_404`, or a constructor call);
    - a call of a project helper that does one of those to its parameter
      (`row_to_dict(user)`), in any module, or of a model method that does it to `self`
      (`user.to_dict()` where `to_dict` returns a dict over `self.__table__.columns`).

    The models are found anywhere in the project (Django models, SQLAlchemy declarative and
    SQLModel tables); serializers on a project base class are not judged, since the base may
    drop the columns.

    ## Why it breaks production
    The wholesale copy publishes whatever the table holds: a user's password hash and reset
    token go to every client that lists users, a patient's insurance number and medical
    notes to anyone who can read the appointment list. Each column a later migration adds
    ships the day it is created, without review. Through a `fields = "__all__"` serializer
    the same columns are also writable by the client (mass assignment).

    ## Example
    ```python
    class PatientSerializer(serializers.ModelSerializer):
        class Meta:
            model = Patient            # has insurance_number, medical_notes
            fields = "__all__"
    ```

    ## Use instead
    ```python
    class PatientSerializer(serializers.ModelSerializer):
        class Meta:
            model = Patient
            fields = ["id", "first_name", "last_name", "phone"]
    ```
    """
    models: dict[str, list[str]] = {}
    # (function, position of the dumped argument, the model class of a method dumping self)
    helpers: set[tuple[str, int, str]] = set()
    helper_lines: dict[tuple[str, int, str], tuple[str, int]] = {}
    for item in _evidence(project):
        if item.kind == "model":
            models.setdefault(item.name, []).extend(item.text("columns").split(","))
        elif item.kind == "helper":
            key = (item.name, _position(item), item.text("owner"))
            helpers.add(key)
            helper_lines.setdefault(key, (item.path, item.line))
    for item in _evidence(project):
        columns = models.get(item.name)
        if not columns:
            continue
        if item.kind == "serializer":
            declared = set(item.text("declared").split(","))
            shown = [c for c in columns if c not in declared]
            if shown:
                ctx.report(
                    item.path,
                    item.line,
                    f"{item.text('serializer')} serializes every column of {item.name} "
                    f"({item.text('how')}), including {_names(shown)}: clients read them and, "
                    "through the serializer, can write them. List the fields the client may "
                    "see",
                    confidence=Confidence.HIGH,
                )
        elif item.kind == "dump":
            ctx.report(
                item.path,
                item.line,
                f"{item.text('how')} of a {item.name} instance copies every column, including "
                f"{_names(columns)}: wherever the copy goes (a response, a log, a cache) the "
                "secrets go too. Copy the fields that are needed",
            )
        elif item.kind == "call":
            key = (item.text("callee"), _position(item), item.text("owner"))
            if key not in helpers:
                continue
            where, line = helper_lines[key]
            ctx.report(
                item.path,
                item.line,
                f"{key[0]}() ({where}:{line}) copies every column of this {item.name} "
                f"instance, including {_names(columns)}: wherever the copy goes (a response, "
                "a log, a cache) the secrets go too. Copy the fields that are needed",
            )


def _position(item: Evidence) -> int:
    """The argument position a helper mark or a call mark carries (an int detail)."""
    return next((v for k, v in item.values if k == "position" and isinstance(v, int)), 0)


def _names(columns: list[str]) -> str:
    unique = sorted(set(columns))
    return ", ".join(unique[:3]) + (" ..." if len(unique) > 3 else "")


def _evidence(project: ProjectFacts) -> list[Evidence]:
    """What the rule collected in the code that runs in production (models included: a test
    model is not the service's)."""
    return [item for item in project.evidence("API005") if not _in_dirs(item.path, _NOT_RUNTIME)]
