"""ORM recognition: Django managers and querysets, SQLAlchemy sessions and queries."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from prodready.engine.analysis.literals import dotted
from prodready.engine.analysis.strings import string_fragments
from prodready.engine.python import PythonContext

DJANGO_MANAGERS = frozenset({"objects", "_default_manager", "_base_manager"})


# QuerySet methods that return another (lazy) QuerySet: no query runs until it is evaluated.
DJANGO_LAZY_METHODS = frozenset(
    {"all", "filter", "exclude", "order_by", "values", "values_list", "select_related"}
    | {"prefetch_related", "annotate", "alias", "only", "defer", "distinct", "using", "reverse"}
    | {"select_for_update", "extra", "none", "union", "intersection", "difference", "dates"}
    | {"datetimes", "complex_filter"}
)


# Methods that run a query right away.
DJANGO_FETCH_METHODS = frozenset(
    {"get", "first", "last", "count", "exists", "aggregate", "earliest", "latest", "in_bulk"}
    | {"contains", "iterator", "explain", "raw", "aget", "afirst", "alast", "acount"}
    | {"aexists", "aaggregate", "ain_bulk", "acontains", "aearliest", "alatest"}
)


DJANGO_WRITE_METHODS = frozenset(
    {"create", "update", "delete", "bulk_create", "bulk_update", "get_or_create"}
    | {"update_or_create", "acreate", "aupdate", "adelete", "abulk_create", "abulk_update"}
    | {"aget_or_create", "aupdate_or_create"}
)


SQLALCHEMY_SESSION_TYPES = (
    "sqlalchemy.orm.Session",
    "sqlalchemy.orm.session.Session",
    "sqlalchemy.orm.sessionmaker",
    "sqlalchemy.orm.session.sessionmaker",
    "sqlalchemy.orm.scoped_session",
    "sqlalchemy.orm.scoping.scoped_session",
    "sqlalchemy.ext.asyncio.AsyncSession",
    "sqlalchemy.ext.asyncio.async_sessionmaker",
    "sqlalchemy.ext.asyncio.async_scoped_session",
    "sqlmodel.Session",
    "sqlmodel.ext.asyncio.session.AsyncSession",
    "flask_sqlalchemy.SQLAlchemy.session",
)


# Session methods that read rows (``get`` needs a mapped class first: ``session.get(User, 1)``).
SQLALCHEMY_READ_METHODS = frozenset(
    {"query", "get", "get_one", "execute", "scalars", "scalar", "exec"}  # exec: SQLModel
)


# Methods of a query result (``Result``/``ScalarResult``).
_RESULT_METHODS = frozenset(
    {"scalars", "scalar", "scalar_one", "scalar_one_or_none", "all", "first", "one"}
    | {"one_or_none", "fetchall", "fetchone", "fetchmany", "unique", "mappings", "tuples"}
)


_SESSION_NAMES = frozenset({"session", "db", "db_session", "dbsession", "sess", "async_session"})


_NOT_DB_ROOTS = frozenset(
    {"requests", "httpx", "aiohttp", "flask", "quart", "django", "boto3", "botocore"}
    | {"starlette", "fastapi", "urllib3", "redis", "pymongo", "motor", "builtins", "request"}
    | {"req"}
)


_NOT_DB_SESSION_HINTS = ("http", "client", "aio", "boto", "requests", "web", "browser", "cookie")


def method_chain(expr: ast.AST) -> tuple[ast.AST, list[tuple[str, ast.AST]]]:
    """Unwind ``a.b(x).c[1:2].d()`` into its base (``a``) and its steps from the base outwards:
    ``[("b", Call), ("c", Attribute), ("[]", Subscript), ("d", Call)]``. A step's node is the
    ``Call`` when the attribute is called, else the ``Attribute``; ``await`` is looked through.
    """
    steps: list[tuple[str, ast.AST]] = []
    while True:
        if isinstance(expr, ast.Await):
            expr = expr.value
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            steps.append((expr.func.attr, expr))
            expr = expr.func.value
        elif isinstance(expr, ast.Attribute):
            steps.append((expr.attr, expr))
            expr = expr.value
        elif isinstance(expr, ast.Subscript):
            steps.append(("[]", expr))
            expr = expr.value
        else:
            break
    steps.reverse()
    return expr, steps


class QueryChain:
    """A recognised ORM query expression.

    ``orm``: ``"django"`` or ``"sqlalchemy"``; ``model``: the text of the model class when known;
    ``steps``: the method/attribute names after the manager (Django: ``filter``, ``first``), the
    session (SQLAlchemy: ``query``, ``filter``, ``all``) or ``Model.query`` (Flask-SQLAlchemy),
    ``"[]"`` for a subscript; ``calls``: the calls of the chain, outermost first.
    """

    __slots__ = ("calls", "model", "node", "orm", "statement", "steps")

    def __init__(
        self,
        orm: str,
        model: str | None,
        steps: tuple[str, ...],
        calls: tuple[ast.Call, ...],
        node: ast.AST,
        statement: ast.AST | None = None,
    ) -> None:
        self.orm = orm
        self.model = model
        self.steps = steps
        self.calls = calls
        self.node = node
        self.statement = statement  # SQLAlchemy: the ``select()`` run by execute/scalars

    @property
    def terminal(self) -> str:
        return self.steps[-1] if self.steps else ""

    @property
    def sliced(self) -> bool:
        return "[]" in self.steps

    def arguments(self) -> Iterator[ast.expr]:
        """Every argument of every call of the chain (positional and keyword values)."""
        for call in self.calls:
            yield from call.args
            for item in call.keywords:
                yield item.value


def _model_text(owner: ast.AST | None) -> str | None:
    """``Order`` / ``shop.Order`` / ``get_user_model()`` -- what looks like a model class."""
    if isinstance(owner, ast.Name):
        return owner.id if owner.id[:1].isupper() else None
    if isinstance(owner, ast.Attribute):
        return dotted(owner) if owner.attr[:1].isupper() else None
    if isinstance(owner, ast.Call):
        name = dotted(owner.func)
        if name is not None and name.rsplit(".", 1)[-1] == "get_user_model":
            return "get_user_model()"
    return None


def django_query(expr: ast.AST) -> QueryChain | None:
    """``Model.objects.<method>(...)...`` (also ``_default_manager``, ``get_user_model()``):
    a Django manager/queryset chain on a model class, with at least one call after the manager.
    """
    _, steps = method_chain(expr)
    for index, (name, node) in enumerate(steps):
        if name in DJANGO_MANAGERS and isinstance(node, ast.Attribute):
            model = _model_text(node.value)
            rest = steps[index + 1 :]
            if model is None or not rest or not isinstance(rest[0][1], ast.Call):
                return None
            calls = tuple(n for _, n in reversed(rest) if isinstance(n, ast.Call))
            return QueryChain("django", model, tuple(n for n, _ in rest), calls, expr)
        if isinstance(node, ast.Call):
            return None
    return None


def is_db_session(expr: ast.AST, ctx: PythonContext) -> bool:
    """A SQLAlchemy (or SQLModel/Flask-SQLAlchemy) session: typed as one, or conventionally
    named (``session``, ``db``, ``db.session``, ``self.db_session``) and not an HTTP session."""
    if isinstance(expr, ast.Call):
        called = ctx.qualname(expr.func) or ""
        if called.startswith(SQLALCHEMY_SESSION_TYPES):
            return True
        last = called.rsplit(".", 1)[-1].lower()
        return last in {"get_session", "get_db", "sessionlocal", "session_local", "db_session"}
    name = ctx.qualname(expr)
    if name is not None:
        if name.startswith(SQLALCHEMY_SESSION_TYPES):
            return True
        root = name.split(".", 1)[0]
        if root in _NOT_DB_ROOTS or name.startswith(("self.request", "self.client")):
            return False
    text = dotted(expr)
    if text is None:
        return False
    parts = text.split(".")
    if parts[0] in _NOT_DB_ROOTS:
        return False
    last = parts[-1].lower()
    if last in _SESSION_NAMES:
        return True
    return last.endswith("_session") and not any(h in last for h in _NOT_DB_SESSION_HINTS)


def sqlalchemy_select(expr: ast.AST | None, ctx: PythonContext, depth: int = 0) -> ast.Call | None:
    """The ``select(...)`` call a statement expression is built from (following locals):
    ``select(User).where(...)``, ``stmt`` assigned one, ``text("SELECT ...")``."""
    if expr is None or depth > 4:
        return None
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if value is None or depth > 3:
            return None
        return sqlalchemy_select(value, ctx, depth + 1)
    base, steps = method_chain(expr)
    if isinstance(base, ast.Name) and steps:
        value = ctx.value_of(base.id)
        if value is not None and value is not expr:
            return sqlalchemy_select(value, ctx, depth + 1)
        return None
    if isinstance(base, ast.Call):
        called = ctx.qualname(base.func) or ""
        last = called.rsplit(".", 1)[-1]
        if last == "select" and (called == "select" or "sql" in called):
            return base
        if last == "text" and "sqlalchemy" in called:
            fragments = " ".join(string_fragments(base.args[0] if base.args else None, ctx))
            if fragments.lstrip().lower().startswith("select"):
                return base
    return None


def sqlalchemy_query(expr: ast.AST, ctx: PythonContext, _depth: int = 0) -> QueryChain | None:
    """A SQLAlchemy read: ``session.query(X)...``, ``session.get(X, id)``,
    ``session.execute(select(X)...)...``, ``session.scalars(select(X))...`` and the
    Flask-SQLAlchemy ``X.query...`` (with at least one call after ``query``). A result read
    through a local (``result = await session.execute(stmt)``; ``result.scalars().all()``) is
    one chain with the ``execute`` call."""
    base, steps = method_chain(expr)
    if isinstance(base, ast.Name) and steps and steps[0][0] in _RESULT_METHODS and _depth < 3:
        value = ctx.value_of(base.id)
        if value is not None and not isinstance(value, ast.Name):
            inner_base, inner_steps = method_chain(value)
            same = isinstance(inner_base, ast.Name) and inner_base.id == base.id
            if inner_steps and inner_steps[0][0] != "query" and not same:
                inner = sqlalchemy_query(value, ctx, _depth + 1)
                if inner is not None:
                    calls = tuple(n for _, n in reversed(steps) if isinstance(n, ast.Call))
                    return QueryChain(
                        "sqlalchemy",
                        inner.model,
                        inner.steps + tuple(n for n, _ in steps),
                        calls + inner.calls,
                        expr,
                        statement=inner.statement,
                    )
    for index, (name, node) in enumerate(steps):
        if name == "query" and index == 0 and isinstance(node, ast.Attribute):
            model = _model_text(base)
            rest = steps[1:]
            if model is None or not rest or not isinstance(rest[0][1], ast.Call):
                return None
            calls = tuple(n for _, n in reversed(rest) if isinstance(n, ast.Call))
            return QueryChain("sqlalchemy", model, tuple(n for n, _ in rest), calls, expr)
        if not isinstance(node, ast.Call):
            continue
        if name not in SQLALCHEMY_READ_METHODS:
            return None
        assert isinstance(node.func, ast.Attribute)
        if not is_db_session(node.func.value, ctx):
            return None
        first = node.args[0] if node.args else None
        statement: ast.AST | None = None
        if name in {"get", "get_one"}:
            if len(node.args) < 2 or _model_text(first) is None:
                return None
            model = _model_text(first)
        elif name == "query":
            model = _model_text(first) if first is not None else None
            if model is None and not isinstance(first, ast.Attribute):
                return None
        else:
            select = sqlalchemy_select(first, ctx)
            if select is None:
                return None
            statement = select
            model = _model_text(select.args[0]) if select.args else None
        rest = steps[index:]
        calls = tuple(n for _, n in reversed(rest) if isinstance(n, ast.Call))
        return QueryChain(
            "sqlalchemy", model, tuple(n for n, _ in rest), calls, expr, statement=statement
        )
    return None


def orm_query(expr: ast.AST, ctx: PythonContext) -> QueryChain | None:
    """A Django or SQLAlchemy query expression (see :func:`django_query`,
    :func:`sqlalchemy_query`)."""
    return django_query(expr) or sqlalchemy_query(expr, ctx)


def uses_django_orm(ctx: PythonContext) -> bool:
    """The module uses Django, or imports the project's own ``models`` module (``.models``,
    ``shop.models`` from inside ``shop``) -- not a library's (``fastapi.openapi.models``)."""
    if "django" in ctx.facts.frameworks:
        return True
    package = ctx.module.split(".", 1)[0]
    for module, _ in ctx.facts.imports:
        parts = module.lstrip(".").split(".")
        if "models" not in parts:
            continue
        if module.startswith(".") or parts[0] == package:
            return True
    return False


def declared_fields(cls: ast.ClassDef) -> list[tuple[str, ast.Call]]:
    """The fields a class body declares by calling a factory, in order: ``name =
    models.ForeignKey(...)``, ``dock: Mapped["Dock"] = relationship()`` -> ``(name, call)``.
    Model rules read a field's factory (``call.func``) and options from the call."""
    found: list[tuple[str, ast.Call]] = []
    for item in cls.body:
        target: ast.expr | None = None
        if isinstance(item, ast.AnnAssign):
            target = item.target
        elif isinstance(item, ast.Assign) and len(item.targets) == 1:
            target = item.targets[0]
        value = getattr(item, "value", None)
        if isinstance(target, ast.Name) and isinstance(value, ast.Call):
            found.append((target.id, value))
    return found
