"""Security audit tier for SQL text formatted from values not provably fixed (SEC057).

SEC001 reports SQL formatted from request data -- a proven flow. A query formatted from a
helper's parameter, ``input()``, a command-line option or a name the module never binds is the
same construction; whether it is exploitable depends on who supplies the value, which the scan
cannot see. It is reported here at the audit tier, naming the value to check."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.taint import report_deferred
from prodready.rules.security._input_origin import OriginReport
from prodready.rules.security._shared import _pieces, _safe_value
from prodready.rules.security.sql import _SQL_FUNCTIONS, _SQL_METHODS, _sql_pieces

# Text that makes a statement (or a clause of one) SQL: the sinks named ``query``/``fetch``
# run many things that are not SQL, so their text must say it is.
_SQL_TEXT = re.compile(
    r"\b(select\b.+\bfrom|insert\s+into|update\b.+\bset|delete\s+from|where|order\s+by|"
    r"group\s+by|values\s*\(|join)\b",
    re.IGNORECASE | re.DOTALL,
)
# Sinks that take nothing but SQL text.
_SQL_ONLY = frozenset(_SQL_FUNCTIONS) | frozenset({"extra", "executescript", "exec_driver_sql"})
_SANITIZERS = frozenset({"psycopg2.sql.Identifier", "psycopg.sql.Identifier", "int", "float"})


@python_rule(
    code="SEC057",
    name="sql-formatted-from-unproven-value",
    category=Category.SECURITY,
    severity=Severity.LOW,
    confidence=Confidence.LOW,
    summary="SQL text formatted from a value that is not provably fixed (audit tier of SEC001)",
    calls=(*_SQL_METHODS, "*.extra", *_SQL_FUNCTIONS),
    nodes=(ModuleEnd,),
    cwe=89,
    fix='Pass values as parameters: cursor.execute("... WHERE id = %s", (value,)).',
)
def sql_formatted_from_unproven_value(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Audit tier (low severity, low confidence). Flags SQL run with the sinks SEC001 knows --
    `cursor.execute`, SQLAlchemy `text()`/`exec_driver_sql`, Django `.raw()`/`.extra()`/
    `RawSQL`, asyncpg `fetch*`, `pandas.read_sql` -- whose text is formatted (f-string, `%`,
    `.format()`, `+`) from a value no request data is seen reaching but that is not provably
    fixed: a helper's parameter no caller in the module feeds with request data, `input()`,
    `sys.argv`, a command-line option, an attribute of an object, a name the module never
    binds. Constant text, constants, settings, numbers, quoted identifiers and values from a
    fixed table are not reported; a proven flow of request data is SEC001's (high).

    ## Why it breaks production
    The query is built the way SQL injection is built: if whoever supplies the value is not
    the operator -- a caller passing request data through another module, a job reading a
    queue, a CSV import -- a quote in it rewrites the statement (`' OR '1'='1` reads every
    row, `'; DROP TABLE ...` destroys data). Even honest data breaks it: a name with an
    apostrophe fails the query.

    ## Example
    ```python
    def orders_for(cursor, customer: str):
        cursor.execute("SELECT id, total FROM orders WHERE customer = '%s'" % customer)
        return cursor.fetchall()
    ```

    ## Use instead
    ```python
    def orders_for(cursor, customer: str):
        cursor.execute("SELECT id, total FROM orders WHERE customer = %s", (customer,))
        return cursor.fetchall()
    ```
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        return
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    callee = ctx.call_name or ""
    method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
    sql_only = callee in _SQL_ONLY or method in _SQL_ONLY
    if method == "raw" and "objects" not in ast.unparse(node.func):
        return  # only Django's Manager.raw() is SQL
    short = (callee or method).rsplit(".", 1)[-1]
    for sql in _sql_pieces(node, ctx):
        pieces = _pieces(sql, ctx, {})
        text = "".join(piece for piece in pieces if isinstance(piece, str))
        values = [
            piece
            for piece in pieces
            if not isinstance(piece, str) and not _safe_value(piece, ctx, _SANITIZERS)
        ]
        if not values or not text or (not sql_only and not _SQL_TEXT.search(text)):
            continue  # constant SQL, a statement passed whole, or text that is not SQL

        def audit(part: str) -> None:
            # ``self.request.query_params`` in a class-based view: named like request data,
            # though the flow from a route to it was not proven
            seen = (
                "which reads like request data, though no flow from a route to it was proven"
                if "request" in part
                else "which is not provably constant; no request data was seen reaching it"
            )
            ctx.report(
                node,
                f"{short}() runs SQL formatted from {part}, {seen}. Check who supplies that "
                "value: if anyone but the operator can, a quote in it rewrites the statement "
                "(SQL injection). Pass it as a query parameter instead of formatting it in",
            )

        # At module level the pieces come from a name's last assignment in the module, which
        # may follow the call: the audit follows the binding in force at the call instead.
        audited = [sql] if ctx.function is None else values
        OriginReport(node, ctx, request=_left_to_sec001, audit=audit, sanitizers=_SANITIZERS).run(
            values, audited
        )
        return


def _left_to_sec001(_source: str) -> None:
    """A proven flow of request data is SEC001's finding (high), not an audit."""
