"""Data access: analysis several data-access rules share (query chains, loops, sessions)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import PythonContext
from prodready.plugin.analysis import dotted, string_fragments

_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_CURSOR_NAMES = frozenset({"cursor", "cur", "curs", "conn", "connection", "db", "cnx", "con"})
_DBAPI_MODULES = ("sqlite3", "psycopg2", "psycopg", "pymysql", "MySQLdb", "mysql.connector")


def _skipped_module(ctx: PythonContext) -> bool:
    """Tests and migrations: data volumes and request paths of production do not apply."""
    return ctx.facts.is_test or "migrations" in ctx.path.split("/")[:-1]


def _is_cursor(expr: ast.AST, ctx: PythonContext) -> bool:
    """A DB-API cursor or connection (``cursor``, ``conn``, ``sqlite3.connect(...)``...)."""
    name = ctx.qualname(expr) or ""
    if name.startswith(_DBAPI_MODULES):
        return True
    text = dotted(expr)
    if text is None:
        return isinstance(expr, ast.Call) and name.endswith(".cursor")
    last = text.rsplit(".", 1)[-1].lower()
    return last in _CURSOR_NAMES or last.endswith(("_cursor", "_conn", "_connection"))


def _sql_text(expr: ast.AST | None, ctx: PythonContext) -> str:
    return " ".join(string_fragments(expr, ctx))


def _target_names(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def _loop_names(loop: ast.AST, ctx: PythonContext) -> set[str]:
    """Names bound per iteration by a loop over rows (not over a batch range or a constant)."""
    if isinstance(loop, ast.For | ast.AsyncFor):
        if _stepped_range(loop.iter) or _fixed_iterable(loop.iter, ctx):
            return set()  # for start in range(0, n, 1000): a batch loop
        return _target_names(loop.target)
    if isinstance(loop, _COMPREHENSIONS):
        names: set[str] = set()
        for generator in loop.generators:
            if not _fixed_iterable(generator.iter, ctx):
                names |= _target_names(generator.target)
        return names
    return set()


def _fixed_iterable(expr: ast.expr, ctx: PythonContext) -> bool:
    """A small iterable fixed in the code: a literal list/tuple/set, a constant
    (``STATUSES``, ``Status.choices``), ``range(3)``, or ``.items()`` of one."""
    if isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Attribute) and func.attr in {"items", "keys", "values"}:
            return _fixed_iterable(func.value, ctx)
        if isinstance(func, ast.Name) and func.id in {"enumerate", "sorted", "reversed"}:
            return bool(expr.args) and _fixed_iterable(expr.args[0], ctx)
        if isinstance(func, ast.Name) and func.id == "range":
            return all(isinstance(a, ast.Constant) for a in expr.args)
        return False
    if isinstance(expr, ast.List | ast.Tuple | ast.Set | ast.Dict):
        return True
    if isinstance(expr, ast.Name):
        if expr.id.isupper():
            return True
        value = ctx.value_of(expr.id)
        return isinstance(value, ast.List | ast.Tuple | ast.Set | ast.Dict)
    if isinstance(expr, ast.Attribute):
        return expr.attr.isupper() or expr.attr in {"choices", "labels", "values", "names"}
    return False


def _stepped_range(expr: ast.expr) -> bool:
    return (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Name)
        and expr.func.id == "range"
        and len(expr.args) == 3
    )


_BATCH_OPERATORS = frozenset({"in_", "any_", "between", "notin_"})
_BATCH_LOOKUPS = ("__in", "__range")


def _references(expressions: list[ast.expr]) -> set[str]:
    """Names an argument list reads, except inside ``__in=`` lookups and ``.in_()`` calls
    (a batched query over a chunk of ids is the fix, not the problem)."""
    names: set[str] = set()
    stack: list[ast.AST] = list(expressions)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            names.add(node.id)
            continue
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr in _BATCH_OPERATORS:
                stack.append(node.func.value)
                continue
            stack.append(node.func)
            stack.extend(node.args)
            stack.extend(
                k.value for k in node.keywords if not (k.arg or "").endswith(_BATCH_LOOKUPS)
            )
            continue
        if isinstance(node, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return names


def _short(ctx: PythonContext, node: ast.AST, limit: int = 60) -> str:
    text = " ".join(ctx.segment(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_MATERIALIZERS = frozenset({"builtins.list", "builtins.tuple", "builtins.sorted"})
# Queryset steps that return something other than model instances (dicts, tuples, one row).
_NOT_ROWS = frozenset(
    {"values", "values_list", "get", "first", "last", "count", "exists", "aggregate", "in_bulk"}
    | {"one", "one_or_none", "scalar", "scalar_one", "scalar_one_or_none", "get_one", "dates"}
    | {"datetimes", "earliest", "latest", "mappings", "tuples", "columns"}
)


_SQL_VERB = re.compile(r"^\s*\(?\s*(select|update|delete|insert|with)\b", re.IGNORECASE)


def _dbapi_query(node: ast.Call, ctx: PythonContext, variables: dict[str, ast.AST]) -> set[str]:
    """The loop variables a DB-API ``execute`` of a read/update/delete passes (empty: none)."""
    func = node.func
    if not isinstance(func, ast.Attribute) or func.attr != "execute" or not node.args:
        return set()
    if not _is_cursor(func.value, ctx):
        return set()
    sql = node.args[0]
    text = _sql_text(sql, ctx)
    if not _SQL_VERB.match(text) or text.lstrip("( ").lower().startswith("insert"):
        return set()
    parameters = [*node.args[1:], *(k.value for k in node.keywords)]
    if isinstance(sql, ast.JoinedStr):
        parameters.extend(v.value for v in sql.values if isinstance(v, ast.FormattedValue))
    return _references(parameters) & variables.keys()
