"""Concurrency: the next number of a sequence taken as COUNT(*) + 1 or MAX(...) + 1 (CON013)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    ModuleMemo,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import dotted, is_script, walk_body

_OPAQUE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_AGGREGATE_SQL = re.compile(r"\bSELECT\s+(COALESCE\s*\(\s*)?(COUNT|MAX)\s*\(", re.I)
_AGGREGATE_CALLS = frozenset({"count", "acount", "Max", "Count"})
_SEQUENCE_FUNCTIONS = re.compile(r"^_?(next|new|generate|allocate|make|issue)_", re.I)
_INSERTS = frozenset({"create", "acreate", "add", "insert", "values", "execute", "save"})


# DatabaseError is IntegrityError's base class in Django and DB-API drivers.
_DUPLICATE_ERRORS = ("IntegrityError", "UniqueViolation", "DuplicateKey", "DatabaseError")


def _retried_on_duplicates(ctx: PythonContext) -> frozenset[str]:
    """Functions of the module whose number is taken in a loop that retries on the unique
    violation (``for attempt in range(10): obj.number = self._next(); try: save() except
    IntegrityError: continue``): the calls in such a loop (and the function holding it) get
    the next number on a clash."""
    source = ctx.source
    if not any(error in source for error in _DUPLICATE_ERRORS):
        return frozenset()  # no handler can name one: the loops need not be walked
    found: set[str] = set()
    for function in ctx.nodes():
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for loop in walk_body(function.body):
            if not isinstance(loop, ast.For | ast.AsyncFor | ast.While):
                continue
            inner = list(walk_body(loop.body))
            if not any(
                isinstance(node, ast.Try)
                and any(
                    handler.type is not None
                    and ctx.segment(handler.type).endswith(_DUPLICATE_ERRORS)
                    for handler in node.handlers
                )
                for node in inner
            ):
                continue
            found.add(function.name)
            for node in inner:
                if isinstance(node, ast.Call):
                    found.add((dotted(node.func) or "").rsplit(".", 1)[-1])
    return frozenset(found)


_RETRIED_ON_DUPLICATES: ModuleMemo[frozenset[str]] = ModuleMemo(
    "CON013:retried", _retried_on_duplicates
)


def _aggregate(value: ast.AST) -> str | None:
    """How the value reads a count or a maximum of stored rows: ``.count()``, ``func.count(
    ...)``, ``Max("number")``, ``func.max(...)``, ``SELECT COUNT(*)``/``SELECT MAX(id)``."""
    for node in ast.walk(value):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in _AGGREGATE_CALLS:
                return "MAX(...)" if name == "Max" else "COUNT(...)"
            if name == "max" and isinstance(func, ast.Attribute):
                base = func.value
                if isinstance(base, ast.Name) and base.id == "func":
                    return "MAX(...)"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found = _AGGREGATE_SQL.search(node.value)
            if found is not None:
                return f"{found.group(2).upper()}(...)"
    return None


def _adds_one(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Add)
        and isinstance(node.right, ast.Constant)
        and node.right.value == 1
    )


def _plus_one(node: ast.AST, names: dict[str, str]) -> str | None:
    """``count + 1`` (or ``(q.count() or 0) + 1``): the aggregate it adds one to."""
    if not _adds_one(node):
        return None
    assert isinstance(node, ast.BinOp)
    left = node.left
    for part in ast.walk(left):
        if isinstance(part, ast.Name) and part.id in names:
            return names[part.id]
    return _aggregate(left)


@python_rule(
    code="CON013",
    name="sequence-from-count",
    category=Category.CONCURRENCY,
    severity=Severity.MEDIUM,
    summary="The next number of a sequence is taken as COUNT(*) + 1 or MAX(...) + 1",
    nodes=(FunctionEnd,),
    confidence=Confidence.MEDIUM,
    fix="Let the database number rows: a sequence/identity column (or a counter row updated "
    "with UPDATE ... SET n = n + 1 RETURNING n), and a unique constraint on the number.",
)
def sequence_from_count(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a number made from a count or a maximum of stored rows plus one -- `Invoice.objects.
    count() + 1`, `session.scalar(select(func.count(Claim.id))) + 1`, `aggregate(Max("number"))
    ["number__max"] + 1`, `SELECT MAX(id) FROM ...` + 1 -- when it becomes a row's number: it
    is formatted into an identifier (`f"CLM-{count + 1:06d}"`), set on a row, passed to a
    create or an insert, or returned by a function named `next_*`/`new_*`/`generate_*`.

    ## Why it breaks production
    Two requests count the same rows at the same time and both take the same "next" number:
    two invoices with one number (a legal problem in many countries), or, with a unique
    constraint, a 500 for one of them. A deleted row makes the count go back and a number is
    reused. Tests create one row at a time and never see it.

    ## Example
    ```python
    count = await session.scalar(select(func.count(Claim.id)))
    claim.number = f"CLM-{count + 1:06d}"
    ```

    ## Use instead
    ```python
    claim_seq = Sequence("claim_number_seq")
    number = await session.scalar(claim_seq.next_value())
    claim.number = f"CLM-{number:06d}"
    ```
    """
    scope = ctx.function
    if scope is None or ctx.facts.is_test or is_script(ctx):
        return
    function = scope.node
    # A finding is an addition of one among the function's own nodes: without one, neither
    # the module's retry loops nor the function's assignments need a look.
    if not any(_adds_one(item) for item in walk_body(function.body)):
        return
    if function.name in ctx.memo(_RETRIED_ON_DUPLICATES):
        return  # the database refuses a duplicate number and the caller tries the next one
    sequence_function = bool(_SEQUENCE_FUNCTIONS.match(function.name))
    names: dict[str, str] = {}
    for item in walk_body(function.body):
        if isinstance(item, _OPAQUE):
            continue
        if isinstance(item, ast.Assign) and len(item.targets) == 1:
            target = item.targets[0]
            if isinstance(target, ast.Name):
                found = _aggregate(item.value)
                if found is not None:
                    names[target.id] = found
                else:
                    names.pop(target.id, None)
            continue
        found = _plus_one(item, names)
        if found is None or not _numbers_a_row(item, ctx, sequence_function):
            continue
        ctx.report(
            item,
            f"`{ctx.segment(item)}` numbers a row from {found} of the stored rows: two "
            "concurrent requests count the same rows and take the same number (duplicates, "
            "or a unique violation that fails one of them), and a deleted row makes a number "
            "come back. Use a database sequence/identity column or a counter row incremented "
            "in one UPDATE ... RETURNING",
        )
        return


# Where a value only orders rows (a tie is harmless): ``item.position = max + 1``.
_ORDERING = re.compile(r"position|priority|order|sort|rank|weight|index", re.I)


def _destination(node: ast.AST, ctx: PythonContext) -> str:
    """The name the value lands in: the keyword, the dictionary key, the assigned field."""
    child, parent = node, ctx.parent(node)
    while parent is not None:
        if isinstance(parent, ast.keyword):
            return parent.arg or ""
        if isinstance(parent, ast.Dict):
            for key, value in zip(parent.keys, parent.values, strict=True):
                if value is child and isinstance(key, ast.Constant):
                    return str(key.value)
        if isinstance(parent, ast.Assign):
            target = parent.targets[0]
            if isinstance(target, ast.Attribute):
                return target.attr
            if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
                return str(target.slice.value)
            return ast.unparse(target)
        if isinstance(parent, ast.stmt):
            return ""
        child, parent = parent, ctx.parent(parent)
    return ""


def _numbers_a_row(node: ast.AST, ctx: PythonContext, sequence_function: bool) -> bool:
    if _ORDERING.search(_destination(node, ctx)):
        return False
    return _feeds_a_row(node, ctx, sequence_function)


def _feeds_a_row(node: ast.AST, ctx: PythonContext, sequence_function: bool) -> bool:
    """The ``+ 1`` becomes a row's number: formatted into an identifier, assigned to a row's
    field, passed to a create/insert, or returned by ``next_*()``. Scaled or bounded further
    (``(last_day + 1) * ms_per_day``) it is a bound of a computation, not a number."""
    parent = ctx.parent(node)
    while parent is not None and not isinstance(parent, ast.stmt):
        if isinstance(parent, ast.BinOp) and not isinstance(parent.op, ast.Add | ast.Mod):
            return False
        if isinstance(parent, ast.JoinedStr | ast.FormattedValue):
            return True
        if isinstance(parent, ast.Call):
            func = parent.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.endswith("Response") or name in {"jsonify", "json_response"}:
                return False  # shown to a client (a suggested next number), not stored
            if name in _INSERTS or name[:1].isupper() or name == "format":
                return True
            if name in {"range", "len", "print", "min", "max"}:
                return False
        if isinstance(parent, ast.Compare):
            return False
        parent = ctx.parent(parent)
    if isinstance(parent, ast.Return):
        return sequence_function
    if isinstance(parent, ast.Assign):
        return any(isinstance(t, ast.Attribute | ast.Subscript) for t in parent.targets)
    return False
