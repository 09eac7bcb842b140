"""Performance: every row of a query loaded to keep the few that match a column test, or the
first few by a sort, in Python (PRF015)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import walk_body
from prodready.rules.performance.python_aggregates import whole_query

_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def _column_of(expr: ast.AST, row: str) -> bool:
    """``row.status`` / ``row["status"]``: a column of the loop's row."""
    if isinstance(expr, ast.Attribute):
        return isinstance(expr.value, ast.Name) and expr.value.id == row
    if isinstance(expr, ast.Subscript):
        return isinstance(expr.value, ast.Name) and expr.value.id == row
    return False


def _column_test(test: ast.expr, row: str) -> bool:
    """A condition SQL could evaluate: comparisons of the row's columns with values that do not
    depend on calling anything (``r.status == "open" and r.total > limit``)."""
    if isinstance(test, ast.BoolOp):
        return all(_column_test(value, row) for value in test.values)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return _column_test(test.operand, row)
    if _column_of(test, row):
        return True  # ``if o.active``: a boolean column
    if not isinstance(test, ast.Compare) or any(isinstance(n, ast.Call) for n in ast.walk(test)):
        return False
    operands = [test.left, *test.comparators]
    return any(_column_of(operand, row) for operand in operands)


def _compares(test: ast.expr) -> bool:
    """At least one comparison: ``if row["email"]`` alone only drops empty values."""
    return any(isinstance(node, ast.Compare) for node in ast.walk(test))


def _rows_source(expr: ast.AST, function: ast.AST | None, ctx: PythonContext) -> bool:
    """Every row of a query, written here or held by a name assigned one in the function and
    read only here (rows split into several groups are one query instead of several)."""
    if isinstance(expr, ast.Name) and isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
        nodes = list(walk_body(function.body))
        values = [
            node.value
            for node in nodes
            if isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == expr.id
        ]
        reads = sum(
            1
            for node in nodes
            if isinstance(node, ast.Name) and node.id == expr.id and isinstance(node.ctx, ast.Load)
        )
        return len(values) == 1 and reads == 1 and whole_query(values[0], ctx)
    return whole_query(expr, ctx)


@python_rule(
    code="PRF015",
    name="rows-filtered-in-python",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Every row of a query is loaded to keep the few matching a column test in Python",
    nodes=(*_COMPREHENSIONS, ast.Subscript),
    fix="Move the test into the query: .filter(status=...)/.where(X.status == ...), "
    "order_by(...)[:n] / .order_by().limit(n) instead of sorted()[:n].",
)
def rows_filtered_in_python(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a comprehension that iterates every row of a query and keeps those passing a test on
    their columns (`[o for o in Order.objects.all() if o.status == "open"]`,
    `next(u for u in session.scalars(select(User)).all() if u.email == email)`, DB-API
    `[r for r in cur.fetchall() if r["kind"] == kind]`), and `sorted(rows, key=...)[:n]` over
    such rows -- the query itself or a name of the function assigned it and read only there.
    Tests that call something (a method, a helper) are not flagged: SQL may not be able to
    evaluate them; nor are tests that only drop empty values (`if row["email"]`), or one
    result split into several groups by several comprehensions (one query instead of two).

    ## Why it breaks production
    The database would return the ten matching rows from an index; the comprehension makes it
    return all of them, builds a Python object per row, and throws almost all away. The cost
    grows with the table, not with the answer: the endpoint that took 5 ms at launch takes
    seconds and hundreds of megabytes a year later, for the same ten rows.

    ## Example
    ```python
    @app.get("/users/by-email")
    def by_email(email: str, session: Session = Depends(get_session)):
        users = session.scalars(select(User)).all()
        return next((u for u in users if u.email == email), None)
    ```

    ## Use instead
    ```python
    @app.get("/users/by-email")
    def by_email(email: str, session: Session = Depends(get_session)):
        return session.scalar(select(User).where(User.email == email))
    ```
    Django: `Order.objects.filter(status="open")`; newest ten:
    `Order.objects.order_by("-created")[:10]` rather than `sorted(...)[:10]`.
    """
    if ctx.facts.is_test or ctx.function is None:
        return
    function = ctx.function.node
    if isinstance(node, ast.Subscript):
        # sorted(rows, key=...)[:n] / [0]: the first few by a sort done in Python
        call = node.value
        if (
            isinstance(call, ast.Call)
            and (ctx.qualname(call.func) or "") == "builtins.sorted"
            and call.args
            and _rows_source(call.args[0], function, ctx)
        ):
            ctx.report(
                node,
                f"{ctx.segment(call.args[0])[:50]} loads every row to keep the first few of a "
                "sort done in Python: order and limit in the query (order_by(...)[:n], "
                ".order_by(...).limit(n))",
            )
        return
    assert isinstance(node, _COMPREHENSIONS)
    generator = node.generators[0]
    if len(node.generators) != 1 or not isinstance(generator.target, ast.Name):
        return
    if not generator.ifs or not all(_column_test(t, generator.target.id) for t in generator.ifs):
        return
    if not any(_compares(test) for test in generator.ifs):
        return
    if not _rows_source(generator.iter, function, ctx):
        return
    ctx.report(
        node,
        f"{ctx.segment(generator.iter)[:50]} loads every row to keep those passing "
        f"`{ctx.segment(generator.ifs[0])[:40]}` in Python: put the test in the query "
        "(.filter(...) / .where(...) / WHERE) so the database returns only the matches",
    )
