"""Performance: len() of a queryset instead of count() (PRF003)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from prodready.plugin import Category, FunctionEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import DJANGO_LAZY_METHODS, django_query, walk_body
from prodready.rules.performance._shared import _short
from prodready.rules.performance.python_aggregates import whole_query

# -- PRF003 ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _LenState:
    pending: list[tuple[ast.Call, str]] = field(default_factory=list)


def _lazy_queryset(expr: ast.AST) -> bool:
    chain = django_query(expr)
    return chain is not None and not chain.sliced and chain.terminal in DJANGO_LAZY_METHODS


def _row_list(expr: ast.AST, ctx: PythonContext) -> bool:
    """Every row of a SQLAlchemy query as a list (``session.scalars(select(X)).all()``,
    ``X.query.filter(...).all()``) or a DB-API ``cursor.fetchall()``: what ``len()`` of a
    queryset is in Django."""
    return isinstance(expr, ast.Call) and whole_query(expr, ctx)


def _truthiness_operands(test: ast.expr) -> list[ast.expr]:
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return _truthiness_operands(test.operand)
    if isinstance(test, ast.BoolOp):
        return [operand for value in test.values for operand in _truthiness_operands(value)]
    return [test]


@python_rule(
    code="PRF003",
    name="queryset-len-instead-of-count",
    category=Category.PERFORMANCE,
    severity=Severity.LOW,
    summary="len(queryset) or `if queryset:` loads every row just to count or test them",
    calls=("builtins.len",),
    nodes=(ast.If, ast.While, ast.IfExp, FunctionEnd),
    fix="Use qs.count() for a number and qs.exists() for a yes/no.",
)
def queryset_len_instead_of_count(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `len(Model.objects.filter(...))`, `len(qs)` where `qs` is a queryset the function
    uses for nothing else, and `if Model.objects.filter(...):` -- each evaluates the whole
    queryset to answer a count or a yes/no. The same with SQLAlchemy and DB-API:
    `len(session.scalars(select(X)...).all())`, `len(X.query.filter(...).all())`,
    `len(cursor.fetchall())` (directly or through a name used for nothing else).

    ## Why it breaks production
    `len()` and truthiness fetch every matching row and build a model instance for each, then
    throw them away. At 50 rows nobody notices; at 500,000 the request allocates hundreds of
    megabytes and takes seconds, where `SELECT COUNT(*)` or `SELECT 1 ... LIMIT 1` answers
    from an index in a millisecond.

    ## Example
    ```python
    if len(Order.objects.filter(customer=user, status="open")) > 5:
        raise TooManyOpenOrders()
    if Coupon.objects.filter(code=code):
        ...
    ```

    ## Use instead
    ```python
    if Order.objects.filter(customer=user, status="open").count() > 5:
        raise TooManyOpenOrders()
    if Coupon.objects.filter(code=code).exists():
        ...
    ```
    SQLAlchemy: `session.scalar(select(func.count()).select_from(X).where(...))`; raw SQL:
    `SELECT count(*) ...`. If you are going to iterate the rows anyway, evaluating them once
    (and using `len()` on the cached result) is fine.
    """
    if ctx.function is None or ctx.facts.is_test:
        return
    state: _LenState = ctx.rule_state(_LenState)
    if isinstance(node, ast.Call):
        if len(node.args) != 1:
            return
        argument = node.args[0]
        if _lazy_queryset(argument) or _row_list(argument, ctx):
            _report_len(node, ctx)
        elif isinstance(argument, ast.Name):
            value = ctx.value_of(argument.id)
            if value is not None and (_lazy_queryset(value) or _row_list(value, ctx)):
                state.pending.append((node, argument.id))
        return
    if isinstance(node, ast.If | ast.While | ast.IfExp):
        for operand in _truthiness_operands(node.test):
            if _lazy_queryset(operand):
                ctx.report(
                    operand,
                    f"`if {_short(ctx, operand)}` fetches every matching row to test for "
                    "one: use .exists()",
                )
        return
    # FunctionEnd: len(qs) is fine when qs is evaluated anyway (iterated, serialized...).
    if not state.pending:
        return
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    wanted = {name for _, name in state.pending}
    loads: dict[str, int] = dict.fromkeys(wanted, 0)
    for child in walk_body(node.body):
        if isinstance(child, ast.Name) and child.id in wanted and isinstance(child.ctx, ast.Load):
            loads[child.id] += 1
    for call, name in state.pending:
        if loads[name] == 1:
            _report_len(call, ctx)


def _report_len(node: ast.Call, ctx: PythonContext) -> None:
    ctx.report(
        node,
        f"{_short(ctx, node)} loads every row of the query just to count it: use .count() / "
        "SELECT count(*) (or .exists() for a yes/no)",
    )
