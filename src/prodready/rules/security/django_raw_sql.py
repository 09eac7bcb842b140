"""Security: Django's raw-SQL escape hatches fed text that is not constant (SEC031)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    DJANGO_LAZY_METHODS,
    DJANGO_MANAGERS,
    argument,
    dotted,
    uses_django_orm,
)
from prodready.plugin.taint import tainted
from prodready.rules.security._shared import _pieces, _safe_value
from prodready.rules.security.sql import _SQL_SANITIZERS, _SQL_TAINT_SANITIZERS

# -- SEC031 ------------------------------------------------------------------------------------

_RAW_SQL = frozenset({"django.db.models.RawSQL", "django.db.models.expressions.RawSQL"})
# QuerySet.extra(select, where, params, tables, order_by, select_params): the arguments that
# are SQL text, by position and keyword (``params``/``select_params`` are bound values).
_EXTRA_SQL_ARGUMENTS = ((0, "select"), (1, "where"), (3, "tables"), (4, "order_by"))


def _resolved(expr: ast.expr, ctx: PythonContext) -> ast.expr:
    """A local or module name bound to a literal container: the container."""
    if isinstance(expr, ast.Name):
        bound = ctx.value_of(expr.id)
        if isinstance(bound, ast.Dict | ast.List | ast.Tuple | ast.Call):
            return bound
    return expr


def _extra_fragments(node: ast.Call, ctx: PythonContext) -> list[ast.expr]:
    """The SQL texts of an ``extra()`` call: the values of ``select``, the items of ``where``,
    ``tables`` and ``order_by`` (a container the rule cannot open is one fragment)."""
    fragments: list[ast.expr] = []
    for position, keyword in _EXTRA_SQL_ARGUMENTS:
        value = argument(node, position, keyword)
        if value is None:
            continue
        value = _resolved(value, ctx)
        if isinstance(value, ast.Dict):
            fragments.extend(value.values)
        elif isinstance(value, ast.Call) and getattr(value.func, "id", "") == "dict":
            fragments.extend(k.value for k in value.keywords)
        elif isinstance(value, ast.List | ast.Tuple):
            fragments.extend(value.elts)
        elif isinstance(value, ast.ListComp | ast.GeneratorExp | ast.DictComp):
            continue  # built from an iteration: left to the taint rules
        else:
            fragments.append(value)
    return fragments


def _django_extra(node: ast.Call, ctx: PythonContext) -> bool:
    """``.extra(...)`` on a Django queryset or manager: the module uses Django's ORM and the
    receiver is a manager or a QuerySet method's result (``Model.objects...``,
    ``qs.filter(...)``, ``self.get_queryset()``) or the call names ``select=``/``where=``/
    ``tables=``/``order_by=``."""
    if not uses_django_orm(ctx):
        return False
    if any(k.arg in {"select", "where", "tables", "order_by"} for k in node.keywords):
        return True
    receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
    chain = dotted(receiver) if receiver is not None else None
    if chain and DJANGO_MANAGERS.intersection(chain.split(".")):
        return True
    return (
        isinstance(receiver, ast.Call)
        and isinstance(receiver.func, ast.Attribute)
        and receiver.func.attr in DJANGO_LAZY_METHODS | {"get_queryset"}
    )


# Calls that return SQL the ORM compiled, with its values kept apart as parameters.
_COMPILERS = frozenset({"sql_with_params", "as_sql", "compile"})


def _compiled_sql(value: ast.expr, ctx: PythonContext) -> bool:
    """The value is SQL text Django's compiler produced (``sql, params =
    qs.query.sql_with_params()``, ``str(sql)``, ``compiler.compile(node)``): its values are
    bound parameters, nothing in it is pasted from outside."""
    if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "str" and value.args:
        value = value.args[0]
    if isinstance(value, ast.Attribute) and value.attr == "query":
        return True  # ``str(qs.query)``: the ORM's own rendering
    if not isinstance(value, ast.Name):
        return False
    scope = ctx.function.node if ctx.function is not None else ctx.tree
    for statement in ast.walk(scope):
        if not isinstance(statement, ast.Assign):
            continue
        bound = any(
            isinstance(part, ast.Name) and part.id == value.id
            for target in statement.targets
            for part in ast.walk(target)
        )
        if bound and any(
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr in _COMPILERS
            for call in ast.walk(statement.value)
        ):
            return True
    return False


@python_rule(
    code="SEC031",
    name="django-raw-sql-fragment",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    summary="QuerySet.extra() or RawSQL() given SQL text that is not constant",
    calls=("*.extra", *_RAW_SQL),
    confidence=Confidence.MEDIUM,
    cwe=89,
    fix="Express it with the ORM (annotate, F(), Func, Q) or keep the SQL constant and pass "
    "values through params=[...].",
)
def django_raw_sql_fragment(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags Django's raw-SQL escape hatches -- `QuerySet.extra(select=..., where=...,
    tables=..., order_by=...)` and `RawSQL(sql, params)` -- when the SQL text is not constant.
    Text formatted from values that are not bound parameters (f-strings, `%`, `.format()`,
    `+` with a variable, attribute or call result) is reported medium; text the rule cannot
    see at all (a parameter, an attribute, a call's result) is reported low, confidence low,
    saying it could not tell where it comes from. Constant text (also through names bound to
    literals), values that cannot carry SQL (numbers, `connection.ops.quote_name()`,
    UPPER_CASE constants), SQL the ORM compiled (`qs.query.sql_with_params()`, `as_sql()`,
    whose values stay bound parameters) and text that request data reaches (SEC001 reports
    that, at high) are not reported. Test files are skipped.

    ## Why it breaks production
    `extra()` and `RawSQL()` paste their text into the query as is: Django escapes nothing
    in it, only the values in `params` are bound. A value formatted into that text today
    from a setting or a model field becomes an injection the day a caller passes user input
    through it -- and it bypasses every database-independence guarantee of the ORM, so the
    query breaks on another backend or Django version (Django documents `extra()` as a last
    resort it intends to deprecate).

    ## Example
    ```python
    def ranked(queryset, language: str):
        return queryset.extra(
            select={"rank": f"ts_rank(search_{language}, plainto_tsquery('x'))"}
        )
    ```

    ## Use instead
    ```python
    def ranked(queryset, language: str):
        column = SEARCH_COLUMNS[language]  # a whitelist of identifiers
        return queryset.annotate(rank=RawSQL(f"ts_rank({column}, plainto_tsquery(%s))", ["x"]))
    ```
    """
    if ctx.facts.is_test:
        return
    callee = ctx.call_name or ctx.qualname(node.func) or ""
    if callee in _RAW_SQL:
        sql = argument(node, 0, "sql")
        fragments = [sql] if sql is not None else []
        hatch = "RawSQL()"
    elif isinstance(node.func, ast.Attribute) and node.func.attr == "extra":
        if not _django_extra(node, ctx):
            return
        fragments = _extra_fragments(node, ctx)
        hatch = "extra()"
    else:
        return
    formatted: list[ast.expr] = []
    opaque: list[ast.expr] = []
    for fragment in fragments:
        pieces = _pieces(fragment, ctx, {})
        values = [
            piece
            for piece in pieces
            if not isinstance(piece, str)
            and not _safe_value(piece, ctx, _SQL_SANITIZERS)
            and not _compiled_sql(piece, ctx)
        ]
        if not values:
            continue
        if any(
            tainted(value, ctx, sanitizers=_SQL_TAINT_SANITIZERS, web_only=True) for value in values
        ):
            return  # request data reaches the text: SEC001 reports it
        if len(pieces) == 1:
            opaque.extend(values)
        else:
            formatted.extend(values)
    if formatted:
        shown = ctx.segment(formatted[0]) or "a value"
        ctx.report(
            node,
            f"SQL text passed to {hatch} is formatted from `{shown[:60]}`, which is not a bound "
            "parameter: Django pastes the text into the query unescaped, so the day that value "
            "carries user input the query can be rewritten. Keep the text constant and pass "
            "values through params=[...] (identifiers through a whitelist)",
        )
        return
    if opaque:
        shown = ctx.segment(opaque[0]) or "a value"
        ctx.report(
            node,
            f"SQL text passed to {hatch} comes from `{shown[:60]}`, whose origin could not be "
            "told here: Django pastes it into the query unescaped. Make sure it is constant, "
            "with values passed through params=[...]",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
