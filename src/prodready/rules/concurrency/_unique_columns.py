"""Concurrency: the column sets a model declares unique, project-wide (CON004).

A check-then-create is safe when the database refuses the second insert: the model declares
the created columns unique -- a field's ``unique=True``, Django's ``Meta.unique_together`` and
``UniqueConstraint(fields=...)`` (also one conditioned only on ``Q(deleted_at__isnull=True)``:
a create leaves that column null), SQLAlchemy's ``__table_args__ = (UniqueConstraint("a",
"b"),)``, the (composite) primary key. Models usually live in another module than the code that
creates rows, so every module states its models' unique sets as project facts (named by the
model's class name) and a finding names the facts that would make it moot.
"""

from __future__ import annotations

import ast
from itertools import combinations

from prodready.plugin import ModuleMemo, ProjectFact, PythonContext
from prodready.plugin.analysis import dotted, is_true, keyword_value

_FACT = "concurrency:unique:"
# Beyond this many created columns, only the subsets up to this size are named on a finding
# (a unique set of more columns than that is rare, and 2^n facts would not be).
_MAX_NAMED_SUBSET = 4


def unique_fact(model: str, fields: frozenset[str]) -> ProjectFact:
    return ProjectFact(
        f"{_FACT}{model}:{','.join(sorted(fields))}",
        f"the project's model {model} declares these columns unique: a duplicate insert fails",
    )


def establish_unique_sets(ctx: PythonContext) -> None:
    """State the unique sets of the module's models (once per module)."""
    ctx.memo(_ESTABLISHED)


def _establish(ctx: PythonContext) -> bool:
    if ctx.facts.is_test:
        return False  # a test's models are not the production schema
    for model, sets in ctx.memo(UNIQUE_SETS).items():
        for fields in sets:
            ctx.establish(unique_fact(model, fields))
    return True


_ESTABLISHED: ModuleMemo[bool] = ModuleMemo("CON004:unique-facts", _establish)


def moot_unless(model: str, given: set[str]) -> list[ProjectFact]:
    """The facts any of which makes a duplicate insert of ``model`` with columns ``given``
    fail: one per subset of ``given`` (up to :data:`_MAX_NAMED_SUBSET` columns when there are
    many)."""
    names = sorted(given)
    largest = len(names) if len(names) <= 2 * _MAX_NAMED_SUBSET else _MAX_NAMED_SUBSET
    return [
        unique_fact(model, frozenset(subset))
        for size in range(1, largest + 1)
        for subset in combinations(names, size)
    ]


def _unique_sets(ctx: PythonContext) -> dict[str, list[frozenset[str]]]:
    """Model classes of the module -> the field sets they declare unique."""
    found: dict[str, list[frozenset[str]]] = {}
    for cls in ctx.tree.body:
        if not isinstance(cls, ast.ClassDef):
            continue
        sets: list[frozenset[str]] = []
        primary: set[str] = set()
        for item in cls.body:
            if isinstance(item, ast.Assign | ast.AnnAssign) and isinstance(item.value, ast.Call):
                # SQLAlchemy 2.0 annotates its columns: ``code: Mapped[str] = mapped_column(...)``
                targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                unique = keyword_value(item.value, "unique")
                if unique is not None and is_true(unique):
                    sets.extend(frozenset({name}) for name in names)
                key = keyword_value(item.value, "primary_key")
                if key is not None and is_true(key):
                    primary |= names  # several columns: one composite key
            elif isinstance(item, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__table_args__" for t in item.targets
            ):
                sets.extend(_table_args_sets(item.value))
            elif isinstance(item, ast.ClassDef) and item.name == "Meta":
                sets.extend(_meta_unique_sets(item))
        if primary:
            sets.append(frozenset(primary))
        if sets:
            found[cls.name] = sets
    return found


def _table_args_sets(value: ast.expr) -> list[frozenset[str]]:
    """``__table_args__ = (UniqueConstraint("a", "b"), PrimaryKeyConstraint("c"), {...})``."""
    elements = value.elts if isinstance(value, ast.Tuple | ast.List) else [value]
    sets: list[frozenset[str]] = []
    for element in elements:
        if not isinstance(element, ast.Call):
            continue
        name = (dotted(element.func) or "").rpartition(".")[2]
        if name in {"UniqueConstraint", "PrimaryKeyConstraint"}:
            sets.append(_string_set(ast.Tuple(elts=list(element.args), ctx=ast.Load())))
    return [fields for fields in sets if fields]


def _meta_unique_sets(meta: ast.ClassDef) -> list[frozenset[str]]:
    sets: list[frozenset[str]] = []
    for item in meta.body:
        if not isinstance(item, ast.Assign) or not isinstance(item.targets[0], ast.Name):
            continue
        name = item.targets[0].id
        if name == "unique_together" and isinstance(item.value, ast.Tuple | ast.List):
            elements = item.value.elts
            groups = (
                elements
                if all(isinstance(e, ast.Tuple | ast.List) for e in elements)
                else [item.value]
            )
            sets.extend(_string_set(group) for group in groups)
        elif name == "constraints" and isinstance(item.value, ast.Tuple | ast.List):
            for constraint in item.value.elts:
                if (
                    isinstance(constraint, ast.Call)
                    and (dotted(constraint.func) or "").endswith("UniqueConstraint")
                    and _covers_live_rows(keyword_value(constraint, "condition"))
                ):
                    fields = keyword_value(constraint, "fields")
                    if fields is not None:
                        sets.append(_string_set(fields))
    return [fields for fields in sets if fields]


def _covers_live_rows(condition: ast.expr | None) -> bool:
    """The constraint holds for every row a create inserts: it has no condition, or only
    ``Q(<field>__isnull=True)`` terms (a soft-delete or archive timestamp): a create leaves
    that column null, so the new row is inside the constraint."""
    if condition is None:
        return True
    if not isinstance(condition, ast.Call) or condition.args:
        return False
    if not (dotted(condition.func) or "").endswith("Q") or not condition.keywords:
        return False
    return all(
        (term.arg or "").endswith("__isnull") and is_true(term.value) for term in condition.keywords
    )


def _string_set(expr: ast.AST) -> frozenset[str]:
    if not isinstance(expr, ast.Tuple | ast.List):
        return frozenset()
    return frozenset(
        e.value for e in expr.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
    )


UNIQUE_SETS: ModuleMemo[dict[str, list[frozenset[str]]]] = ModuleMemo("CON004:unique", _unique_sets)
