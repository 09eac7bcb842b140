"""Small analyses that several rules share: call arguments, literal values, strings built at run
time, loggers. Everything here is a pure function of AST nodes and the context.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from prodready.engine.python import PythonContext

LOGGER_NAMES = frozenset({"logger", "log", "_logger", "_log", "LOGGER", "LOG", "logging"})
LOGGER_FACTORIES = ("logging.getLogger", "structlog.get_logger", "structlog.getLogger")
LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"}
)


def keyword(call: ast.Call, name: str) -> ast.keyword | None:
    for item in call.keywords:
        if item.arg == name:
            return item
    return None


def keyword_value(call: ast.Call, name: str) -> ast.expr | None:
    item = keyword(call, name)
    return item.value if item is not None else None


def has_keyword(call: ast.Call, *names: str) -> bool:
    return any(item.arg in names for item in call.keywords)


def has_star_kwargs(call: ast.Call) -> bool:
    """``f(**options)``: any keyword may be in there, so absence cannot be proven."""
    return any(item.arg is None for item in call.keywords)


def has_star_args(call: ast.Call) -> bool:
    return any(isinstance(arg, ast.Starred) for arg in call.args)


def argument(call: ast.Call, position: int | None, name: str | None = None) -> ast.expr | None:
    """The argument passed at ``position`` or as keyword ``name``."""
    if name is not None:
        value = keyword_value(call, name)
        if value is not None:
            return value
    if position is not None and position < len(call.args):
        candidate = call.args[position]
        if not isinstance(candidate, ast.Starred):
            return candidate
    return None


def constant(expr: ast.AST | None) -> object:
    return expr.value if isinstance(expr, ast.Constant) else None


def constant_str(expr: ast.AST | None) -> str | None:
    value = constant(expr)
    return value if isinstance(value, str) else None


def is_true(expr: ast.AST | None) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is True


def is_false(expr: ast.AST | None) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is False


def is_none(expr: ast.AST | None) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is None


def is_literal(expr: ast.AST | None) -> bool:
    """A value fully known at analysis time (constants and containers of constants)."""
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Tuple | ast.List | ast.Set):
        return all(is_literal(element) for element in expr.elts)
    if isinstance(expr, ast.Dict):
        return all(k is None or is_literal(k) for k in expr.keys) and all(
            is_literal(v) for v in expr.values
        )
    return False


def dotted(expr: ast.AST | None) -> str | None:
    """The dotted text of a Name/Attribute chain, without resolving anything."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return ".".join(reversed(parts))
    return None


def root_name(expr: ast.AST | None) -> str | None:
    """``a`` for ``a.b[c].d()``."""
    while True:
        if isinstance(expr, ast.Attribute | ast.Subscript):
            expr = expr.value
        elif isinstance(expr, ast.Call):
            expr = expr.func
        elif isinstance(expr, ast.Name):
            return expr.id
        else:
            return None


def _is_constant_name(name: str, ctx: PythonContext, depth: int) -> bool:
    value = ctx.value_of(name)
    if value is None:
        # Names in UPPER_CASE not bound in this function are constants by convention
        # (``from .settings import TABLE``).
        return name.isupper() and name not in _local_names(ctx)
    # A name is constant when what it was assigned is (a call result or an attribute read is
    # not known at analysis time, even though it is not itself a built string).
    return _is_static(value, ctx, depth + 1)


def _local_names(ctx: PythonContext) -> set[str]:
    scope = ctx.function
    names: set[str] = set()
    while scope is not None:
        names.update(scope.bindings)
        scope = scope.parent
    return names


def is_dynamic_string(
    expr: ast.AST | None, ctx: PythonContext, depth: int = 0, *, require_string: bool = True
) -> bool:
    """True when ``expr`` builds a string from values not known at analysis time, with an
    f-string, ``%``, ``.format()`` or ``+`` -- following local names a few assignments back.
    Constants and names bound to constants are not dynamic.
    """
    if expr is None or depth > 6:
        return False
    if isinstance(expr, ast.Constant):
        return False
    if isinstance(expr, ast.JoinedStr):
        return any(
            isinstance(part, ast.FormattedValue) and not _is_static(part.value, ctx, depth)
            for part in expr.values
        )
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mod | ast.Add):
        if isinstance(expr.op, ast.Mod) and not _stringish(expr.left, ctx, depth):
            return False
        if isinstance(expr.op, ast.Add) and not (
            _stringish(expr.left, ctx, depth) or _stringish(expr.right, ctx, depth)
        ):
            return False
        return not (_is_static(expr.left, ctx, depth) and _is_static(expr.right, ctx, depth))
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        if expr.func.attr == "format" and _stringish(expr.func.value, ctx, depth):
            arguments = [*expr.args, *(k.value for k in expr.keywords)]
            return not all(_is_static(a, ctx, depth) for a in arguments)
        if expr.func.attr == "join" and _stringish(expr.func.value, ctx, depth):
            return not all(_is_static(a, ctx, depth) for a in expr.args)
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if value is not None and value is not expr:
            return is_dynamic_string(value, ctx, depth + 1, require_string=require_string)
        return False
    return False


def _is_static(expr: ast.AST, ctx: PythonContext, depth: int) -> bool:
    if depth > 6:
        return True  # self-referencing ``sql = sql + "..."`` chains: give up quietly
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Name):
        return _is_constant_name(expr.id, ctx, depth)
    if isinstance(expr, ast.Tuple | ast.List):
        return all(_is_static(element, ctx, depth) for element in expr.elts)
    if isinstance(expr, ast.Dict):
        return all(k is None or _is_static(k, ctx, depth) for k in expr.keys) and all(
            _is_static(v, ctx, depth) for v in expr.values
        )
    if isinstance(expr, ast.Attribute):
        # ``Model._meta.db_table``, ``settings.TABLE``: names of schema objects, not user data.
        return expr.attr.isupper() or expr.attr in {"db_table", "table_name", "__tablename__"}
    if isinstance(expr, ast.JoinedStr | ast.BinOp):
        return not is_dynamic_string(expr, ctx, depth + 1)
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr in {"format", "join"}
        and _stringish(expr.func.value, ctx, depth)
    ):
        # A string built from constants; any other call returns a value known only at run time.
        return not is_dynamic_string(expr, ctx, depth + 1)
    return False


def _stringish(expr: ast.AST, ctx: PythonContext, depth: int) -> bool:
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, str)
    if isinstance(expr, ast.JoinedStr):
        return True
    if isinstance(expr, ast.BinOp):
        return _stringish(expr.left, ctx, depth) or _stringish(expr.right, ctx, depth)
    if isinstance(expr, ast.Name) and depth < 6:
        value = ctx.value_of(expr.id)
        return value is not None and value is not expr and _stringish(value, ctx, depth + 1)
    return False


def string_fragments(expr: ast.AST | None, ctx: PythonContext, depth: int = 0) -> Iterator[str]:
    """The literal text pieces of a (possibly built) string expression."""
    if expr is None or depth > 6:
        return
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        yield expr.value
    elif isinstance(expr, ast.JoinedStr):
        for part in expr.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                yield part.value
    elif isinstance(expr, ast.BinOp):
        yield from string_fragments(expr.left, ctx, depth + 1)
        yield from string_fragments(expr.right, ctx, depth + 1)
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        if expr.func.attr in {"format", "join"}:
            yield from string_fragments(expr.func.value, ctx, depth + 1)
    elif isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if value is not None and value is not expr:
            yield from string_fragments(value, ctx, depth + 1)


def is_logger(expr: ast.AST, ctx: PythonContext) -> bool:
    """True for ``logging``, ``logging.getLogger(...)`` results and conventional logger names."""
    name = ctx.qualname(expr)
    if name is None:
        return False
    if name == "logging" or name.startswith(LOGGER_FACTORIES):
        return True
    last = name.rsplit(".", 1)[-1]
    return last in LOGGER_NAMES or last.endswith(("logger", "_log"))


def log_call(call: ast.Call, ctx: PythonContext) -> str | None:
    """The logging method (``error``, ``exception``...) when ``call`` is a logging call."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in LOG_METHODS and is_logger(func.value, ctx):
        return func.attr
    return None


def walk_body(statements: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node under a list of statements, not descending into nested functions/classes.

    For rules that judge a small block they were dispatched for (a loop, an ``except``
    handler); the engine's single walk still visits each node once for dispatch.
    """
    stack: list[ast.AST] = list(reversed(statements))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def calls_in(statements: list[ast.stmt]) -> Iterator[ast.Call]:
    for node in walk_body(statements):
        if isinstance(node, ast.Call):
            yield node


def function_calls_name(statements: list[ast.stmt], ctx: PythonContext, *names: str) -> bool:
    """True when the block calls any of the qualified names (or ``*.method`` patterns)."""
    for call in calls_in(statements):
        qualified = ctx.qualname(call.func)
        if qualified is None:
            continue
        for wanted in names:
            if wanted.startswith("*.") and qualified.endswith(wanted[1:]):
                return True
            if qualified == wanted:
                return True
    return False


# -- service code versus scripts ------------------------------------------------------------------

_SCRIPT_FILES = frozenset({"manage.py", "setup.py", "noxfile.py", "fabfile.py", "conftest.py"})
_SCRIPT_DIRS = frozenset({"scripts", "script", "bin", "migrations", "alembic"})
CLI_LIBRARIES = frozenset({"argparse", "click", "typer", "fire", "docopt", "optparse"})


def is_script(ctx: PythonContext) -> bool:
    """A command-line tool, one-off script or migration rather than code a service runs: it
    imports a CLI library and declares no routes, it uses no service framework and has a
    ``__main__`` block or runs its entry point at import (a top-level ``asyncio.run(main())``),
    or it lives where scripts live (``scripts/``, ``bin/``, Django management commands,
    migrations, ``manage.py``).

    Reads the imports seen so far: call it from ``ModuleEnd`` for a complete answer.
    """
    parts = ctx.path.split("/")
    if parts[-1] in _SCRIPT_FILES or any(part in _SCRIPT_DIRS for part in parts[:-1]):
        return True
    if "management" in parts[:-1] and "commands" in parts[:-1]:
        return True
    facts = ctx.facts
    if facts.routes:
        return False
    if facts.imports_any(CLI_LIBRARIES):
        return True
    if facts.frameworks:
        return False
    if facts.has_main_guard:
        return True
    runs = ctx.module_state.get("analysis:runs-at-import")
    if runs is None:  # a property of the whole tree: computed once per module
        runs = ctx.module_state["analysis:runs-at-import"] = _runs_at_import(ctx.tree)
    return bool(runs)


_SCRIPT_ENTRY_CALLS = frozenset({"asyncio.run", "trio.run", "anyio.run", "main", "async_main"})


def _runs_at_import(tree: ast.Module) -> bool:
    """A top-level ``asyncio.run(main())`` or ``main()``: the module does its work when run."""
    for statement in tree.body:
        value = statement.value if isinstance(statement, ast.Expr) else None
        if isinstance(value, ast.Call) and dotted(value.func) in _SCRIPT_ENTRY_CALLS:
            return True
    return False


_FRAMEWORK_PACKAGES = frozenset(
    {"django", "rest_framework", "flask", "quart", "fastapi", "starlette", "aiohttp", "sanic"}
    | {"litestar", "tornado", "falcon", "werkzeug"}
)


def is_framework_source(ctx: PythonContext) -> bool:
    """The module is part of a web framework's own package (``django/utils/archive.py``):
    library code that services import, not a service."""
    return any(part in _FRAMEWORK_PACKAGES for part in ctx.path.split("/")[:-1])


def in_service_code(ctx: PythonContext) -> bool:
    """Code that runs inside a long-lived service: a module using a web/worker framework or
    declaring routes, that is neither a test, a script (see :func:`is_script`) nor part of a
    framework's own source."""
    facts = ctx.facts
    return (
        facts.is_service
        and not facts.is_test
        and not facts.is_example
        and not is_script(ctx)
        and not is_framework_source(ctx)
    )


# -- environment lookups ----------------------------------------------------------------------

# Callee -> (position of a positional default, position of a positional cast); None: keyword only.
_ENV_CALLS: dict[str, tuple[int | None, int | None]] = {
    "os.getenv": (1, None),
    "os.environ.get": (1, None),
    "os.environ.setdefault": (1, None),
    "decouple.config": (1, 2),
    "decouple.AutoConfig": (1, 2),
    "decouple.Config": (1, 2),
    "starlette.config.Config": (None, 1),
    "environ.Env": (None, 1),
    "environ.Env.get_value": (None, 1),
}
# django-environ's typed accessors: ``env.bool("DEBUG", default=False)``.
_ENV_TYPED = frozenset(
    {"str", "bool", "int", "float", "json", "list", "tuple", "dict", "url", "db_url", "db"}
    | {"cache_url", "cache", "email_url", "email", "search_url", "path", "bytes", "parse_value"}
)


class EnvLookup:
    """A read of one environment variable / settings key: ``os.getenv("X", default)``,
    ``os.environ.get``, python-decouple ``config()``, starlette ``Config()``, django-environ
    ``env()``/``env.bool()``.

    ``name``: the variable name when literal; ``default``: the default expression (None when
    none is given); ``cast``: the conversion applied (``"bool"``, ``"int"``, the text of a
    ``cast=`` argument) or None when the raw string (or the default) is returned.
    """

    __slots__ = ("call", "callee", "cast", "default", "name")

    def __init__(
        self,
        call: ast.Call,
        callee: str,
        name: str | None,
        default: ast.expr | None,
        cast: str | None,
    ) -> None:
        self.call = call
        self.callee = callee
        self.name = name
        self.default = default
        self.cast = cast


def env_lookup(expr: ast.AST | None, ctx: PythonContext) -> EnvLookup | None:
    """The environment lookup ``expr`` performs, if it is one (see :class:`EnvLookup`)."""
    if isinstance(expr, ast.Await) or not isinstance(expr, ast.Call):
        return None
    callee = ctx.qualname(expr.func)
    if callee is None:
        return None
    cast: str | None = None
    if callee in _ENV_CALLS:
        default_at, cast_at = _ENV_CALLS[callee]
    elif callee.startswith("environ.Env.") and callee.rsplit(".", 1)[1] in _ENV_TYPED:
        default_at, cast_at = 1, None
        method = callee.rsplit(".", 1)[1]
        cast = None if method == "str" else method
    else:
        return None
    if not expr.args or isinstance(expr.args[0], ast.Starred) or has_star_kwargs(expr):
        return None
    default = argument(expr, default_at, "default")
    if callee.startswith("os.environ.") and keyword_value(expr, "default") is not None:
        default = None  # ``dict.get`` takes no keywords: not an environ lookup we understand
    cast_expr = argument(expr, cast_at, "cast")
    if cast_expr is not None and not is_none(cast_expr):
        cast = dotted(cast_expr) or ctx.segment(cast_expr) or "cast"
    return EnvLookup(expr, callee, constant_str(expr.args[0]), default, cast)


BROAD_EXCEPTIONS = frozenset({"builtins.Exception", "builtins.BaseException"})


def caught_names(handler: ast.ExceptHandler, ctx: PythonContext) -> list[str]:
    """Qualified names of the classes an ``except`` clause catches (``[]`` for a bare
    ``except:``). Expressions that are not names (``except self.errors``) are kept as written.
    """
    kind = handler.type
    if kind is None:
        return []
    elements = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    names: list[str] = []
    for element in elements:
        name = ctx.qualname(element) if isinstance(element, ast.Name | ast.Attribute) else None
        names.append(name or ctx.segment(element))
    return names


def catches_broadly(handler: ast.ExceptHandler, ctx: PythonContext) -> bool:
    """``except:``, ``except Exception`` or ``except BaseException`` (also inside a tuple)."""
    if handler.type is None:
        return True
    return any(name in BROAD_EXCEPTIONS for name in caught_names(handler, ctx))


# -- ORM recognition: Django managers/querysets, SQLAlchemy sessions and queries ---------------

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


def loaded_names(expr: ast.AST | None) -> set[str]:
    """Names read anywhere inside an expression."""
    if expr is None:
        return set()
    return {
        node.id
        for node in ast.walk(expr)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }


# -- background tasks ---------------------------------------------------------------------------

_TASK_DECORATOR_SUFFIXES = (".task", ".shared_task", ".actor", ".periodic_task")
_TASK_DECORATORS = frozenset(
    {"celery.shared_task", "celery.task", "dramatiq.actor", "huey.task", "rq.job", "shared_task"}
)
# ``@task`` of task runners that are command-line tools, not workers.
_NOT_TASK_ROOTS = ("invoke.", "fabric.", "nox.", "prefect.", "airflow.")


def is_task_function(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> bool:
    """A background-task entry point: ``@shared_task``, ``@app.task(...)``, ``@celery.task``,
    ``@dramatiq.actor``, ``@huey.task()``... -- run once per message by a worker."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = ctx.qualname(target) or dotted(target) or ""
        if name.startswith(_NOT_TASK_ROOTS):
            continue
        if name in _TASK_DECORATORS or name.endswith(_TASK_DECORATOR_SUFFIXES):
            return True
    return False


def in_task(ctx: PythonContext) -> bool:
    """The code being walked runs inside a background-task function (or a function nested in
    one). The answer is cached on each scope."""
    scope = ctx.function
    while scope is not None:
        known = scope.state.get("analysis:task")
        if known is None:
            known = is_task_function(scope.node, ctx)
            scope.state["analysis:task"] = known
        if known:
            return True
        scope = scope.parent
    return False


# -- example and documentation code -----------------------------------------------------------


def is_example_code(ctx: PythonContext) -> bool:
    """The module lives under a documentation or tutorial directory (see
    :func:`prodready.engine.facts.is_example_path`): it illustrates an API and is not a
    deployed service."""
    return ctx.facts.is_example


# -- calls to other services --------------------------------------------------------------------

# Client libraries whose calls cross the network to another service (HTTP, databases, caches,
# queues, mail, cloud and vendor APIs).
DEPENDENCY_MODULES = frozenset(
    {
        "requests", "httpx", "aiohttp", "urllib3", "httplib2", "http.client", "urllib.request",
        "boto3", "botocore", "aiobotocore", "aioboto3", "google.cloud", "azure",
        "redis", "aioredis", "pymemcache", "memcache",
        "psycopg2", "psycopg", "asyncpg", "pymysql", "MySQLdb", "mysql", "aiomysql",
        "pymongo", "motor", "sqlalchemy", "elasticsearch", "opensearchpy", "cassandra",
        "smtplib", "aiosmtplib", "pika", "aio_pika", "kombu", "kafka", "aiokafka",
        "confluent_kafka", "nats", "celery", "grpc", "zmq", "paramiko", "ftplib", "socket",
        "websockets", "stripe", "twilio", "sendgrid", "openai", "anthropic", "slack_sdk",
        "hvac", "ldap3", "zeep",
    }
)  # fmt: skip
# Methods that talk to a remote peer whatever the client (``self.api.charge(...)``).
DEPENDENCY_METHODS = frozenset(
    {
        "request", "urlopen", "post", "put", "patch", "send", "sendall", "send_message",
        "sendmail", "send_mail", "publish", "basic_publish", "produce", "commit", "execute",
        "executemany", "exec_driver_sql", "fetchall", "fetchone", "connect", "invoke",
        "call_api", "charge", "refund", "capture", "upload", "upload_file", "download",
        "download_file", "put_object", "get_object", "delete_object", "notify", "enqueue",
        "delay", "apply_async", "send_task", "bulk_create", "bulk_update", "save",
    }
)  # fmt: skip
# Receivers whose name says they stand for a remote peer: any method on them is a remote call.
# Matched against the words of the name (``http_client``, ``apiSession``, ``db``).
DEPENDENCY_RECEIVER_WORDS = frozenset(
    {
        "client", "session", "api", "http", "conn", "connection", "cursor", "redis", "cache",
        "db", "database", "s3", "sqs", "sns", "queue", "producer", "channel", "broker", "smtp",
        "mailer", "stub", "gateway", "service", "rpc",
    }
)  # fmt: skip
# ...unless another word makes it local data about that peer (``cache_dir``, ``db_path``).
_LOCAL_RECEIVER_WORDS = frozenset(
    {"dir", "directory", "path", "file", "files", "folder", "key", "keys", "name", "config"}
    | {"settings", "lock", "size", "ttl", "url", "info", "id", "data", "stats"}
)


def _name_words(name: str) -> set[str]:
    """``http_client`` -> {http, client}; ``apiSession`` -> {api, session}."""
    spaced = "".join(
        f"_{char}" if char.isupper() and index and name[index - 1].islower() else char
        for index, char in enumerate(name)
    )
    return {word for word in spaced.lower().split("_") if word}


def dependency_call(statements: list[ast.stmt], ctx: PythonContext) -> ast.Call | None:
    """The first call in a block that reaches another service over the network: a client
    library (``requests.get``, ``boto3...``, ``redis...``), an ORM query (``Model.objects``),
    a remote-sounding method (``.post``, ``.execute``, ``.publish``, ``.charge``) or any method
    of a receiver named like a remote peer (``self.client.x()``, ``db.y()``). ``None`` when the
    block only computes, parses or touches local files.
    """
    for call in calls_in(statements):
        func = call.func
        name = ctx.qualname(func) or ""
        if name.startswith("builtins."):
            continue
        root = name.split(".", 1)[0]
        if root in DEPENDENCY_MODULES or any(
            name.startswith(module + ".") for module in DEPENDENCY_MODULES if "." in module
        ):
            return call
        if ".objects." in name:
            return call  # the Django ORM
        if not isinstance(func, ast.Attribute):
            continue
        if func.attr in DEPENDENCY_METHODS:
            return call
        receiver = func.value
        while isinstance(receiver, ast.Call | ast.Await):
            receiver = receiver.func if isinstance(receiver, ast.Call) else receiver.value
        last = receiver.attr if isinstance(receiver, ast.Attribute) else None
        if isinstance(receiver, ast.Name):
            last = receiver.id
        if last is not None:
            words = _name_words(last)
            if words & DEPENDENCY_RECEIVER_WORDS and not words & _LOCAL_RECEIVER_WORDS:
                return call
    return None


# -- module-level values ------------------------------------------------------------------------


def is_local_name(name: str, ctx: PythonContext) -> bool:
    """``name`` is bound in the function being walked (or an enclosing one), not the module."""
    scope = ctx.function
    while scope is not None:
        if name in scope.bindings and name not in scope.globals:
            return True
        scope = scope.parent
    return False


def module_value(name: str, ctx: PythonContext) -> ast.expr | None:
    """The expression a name holds where it is used: a local's last assignment, else the value
    the module's top-level statements last assigned it (``CONFIG = {...}``,
    ``AWS = Config(...)`` -- values that are not constants and that ``ctx.value_of`` does not
    keep). A scan of the module's top-level statements: ask only for a candidate."""
    value = ctx.value_of(name)
    if value is not None or is_local_name(name, ctx):
        return value
    found: ast.expr | None = None
    for statement in ctx.tree.body:
        if isinstance(statement, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in statement.targets):
                found = statement.value
        elif (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and statement.target.id == name
            and statement.value is not None
        ):
            found = statement.value
    return found


def task_decorator(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> ast.expr | None:
    """The decorator that makes ``node`` a background task (see :func:`is_task_function`):
    ``@app.task(bind=True, ...)`` (an ``ast.Call`` whose keywords are the task's options),
    ``@shared_task``... ``None`` for other functions."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = ctx.qualname(target) or dotted(target) or ""
        if name.startswith(_NOT_TASK_ROOTS):
            continue
        if name in _TASK_DECORATORS or name.endswith(_TASK_DECORATOR_SUFFIXES):
            return decorator
    return None


# -- message consumers ----------------------------------------------------------------------------

# Methods that block for the next message of a broker, whatever the client object is called.
RECEIVE_METHODS = frozenset(
    {"basic_get", "get_message", "blpop", "brpop", "brpoplpush", "blmove", "bzpopmin"}
    | {"bzpopmax", "xread", "xreadgroup", "receive_message", "receive_messages", "next_msg"}
    | {"process_data_events", "getone", "getmany"}
)
# Methods that do so only on a consumer-like receiver (``consumer.poll``, not ``select.poll``).
_POLL_METHODS = frozenset({"poll", "consume", "pull", "fetch", "receive", "listen", "iterator"})
BROKER_MODULES = (
    "confluent_kafka",
    "kafka",
    "aiokafka",
    "pika",
    "aio_pika",
    "aiormq",
    "kombu",
    "redis",
    "nats",
    "google.cloud.pubsub",
    "azure.servicebus",
    "pulsar",
    "stomp",
)
_CONSUMER_WORDS = ("consumer", "subscriber", "subscription", "receiver", "pubsub")
_CONSUMER_TYPES = ("kafka.KafkaConsumer", "aiokafka.AIOKafkaConsumer")
# Calls that hand the process over to a broker client's own consume loop.
_BLOCKING_CONSUMES = frozenset({"start_consuming"})


def receive_call(call: ast.Call, ctx: PythonContext) -> str | None:
    """The name of a call that waits for the next message from a broker (``consumer.poll()``,
    ``channel.basic_get()``, ``r.blpop()``, ``sqs.receive_message()``...), else ``None``."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    name = ctx.qualname(func) or ""
    method = func.attr
    if method in RECEIVE_METHODS:
        return name or method
    receiver = ctx.qualname(func.value) or dotted(func.value) or ""
    lowered = receiver.lower()
    if method in _POLL_METHODS and (
        lowered.startswith(BROKER_MODULES) or any(word in lowered for word in _CONSUMER_WORDS)
    ):
        return name or f"{receiver}.{method}"
    return None


def message_loop(node: ast.AST, ctx: PythonContext) -> str | None:
    """What a loop consumes when it is a message-consumer loop -- ``for message in consumer``
    (a Kafka consumer), ``async for msg in queue.iterator()``, ``while running: consumer.poll()``
    -- else ``None``."""
    if isinstance(node, ast.While):
        for inner in walk_body(node.body):
            if isinstance(inner, ast.Call):
                found = receive_call(inner, ctx)
                if found is not None:
                    return found
        return None
    if isinstance(node, ast.For | ast.AsyncFor):
        source = node.iter
        name = ctx.qualname(source) or dotted(source) or ""
        if name.startswith(_CONSUMER_TYPES) or name.lower().endswith("consumer"):
            return name
        if isinstance(source, ast.Call):
            return receive_call(source, ctx)
    return None


def runs_consumer(statements: list[ast.stmt], ctx: PythonContext) -> str | None:
    """What a block consumes when it runs a message-consumer loop itself (a loop of
    :func:`message_loop`, or ``channel.start_consuming()``): such a function -- even one named
    ``main`` -- is the long-running worker, not a command-line entry point."""
    for node in walk_body(statements):
        if isinstance(node, ast.For | ast.AsyncFor | ast.While):
            found = message_loop(node, ctx)
            if found is not None:
                return found
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _BLOCKING_CONSUMES
        ):
            return ctx.qualname(node.func) or node.func.attr
    return None


# -- helper functions of the module: what their calls return ------------------------------------

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def module_functions(ctx: PythonContext) -> dict[str, FunctionNode]:
    """The functions defined at the top level of the module, by name (once per module)."""
    functions: dict[str, FunctionNode] | None = ctx.module_state.get("analysis:functions")
    if functions is None:
        functions = {
            node.name: node
            for node in ctx.tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        ctx.module_state["analysis:functions"] = functions
    return functions


def module_function(call: ast.Call, ctx: PythonContext) -> FunctionNode | None:
    """The top-level function of this module that ``call`` invokes by its plain name
    (``get_db()``), or ``None`` (a method, an imported or a shadowed name)."""
    if not isinstance(call.func, ast.Name):
        return None
    name = call.func.id
    if ctx.resolve_name(name) != name:
        return None  # imported, a builtin, or bound to something else here
    return module_functions(ctx).get(name)


def factory_calls(function: FunctionNode, ctx: PythonContext) -> frozenset[str]:
    """Qualified names of the calls whose *new* result ``function`` hands to its caller: the
    return summary of a helper, computed once per function.

    ``return psycopg2.connect(...)``, ``conn = sqlite3.connect(p); conn.row_factory = ...;
    return conn``, ``return await create()`` and the factory calls of another helper of the
    module it returns the result of (``return _connect()``) count. A result the helper also
    keeps elsewhere -- stored on an object or in a container (``g.db = conn``), or a global --
    is shared, not handed over, and does not count: ``def get_db(): if "db" not in g: g.db =
    connect(); return g.db`` returns the request's shared connection.
    """
    cache: dict[int, frozenset[str]] = ctx.module_state.setdefault("analysis:factory-calls", {})
    known = cache.get(id(function))
    if known is not None:
        return known
    if any(_shares_result(decorator) for decorator in _decorator_targets(function)):
        cache[id(function)] = frozenset()  # @lru_cache / @contextmanager: not a fresh result
        return cache[id(function)]
    cache[id(function)] = frozenset()  # recursion guard
    saved = ctx.function
    ctx.function = None  # resolve the helper's names at module level, not in the caller
    try:
        result = _factory_calls(function, ctx)
    finally:
        ctx.function = saved
    cache[id(function)] = result
    return result


# Decorators that make a function return something else than a fresh result of its body: a
# cached instance, a context manager, a fixture.
_SHARING_DECORATOR_WORDS = ("cache", "memoize", "singleton", "contextmanager", "fixture")


def _shares_result(decorator: ast.expr) -> bool:
    last = (dotted(decorator) or "").rsplit(".", 1)[-1].lower()
    return last == "once" or any(word in last for word in _SHARING_DECORATOR_WORDS)


def _decorator_targets(function: FunctionNode) -> list[ast.expr]:
    return [d.func if isinstance(d, ast.Call) else d for d in function.decorator_list]


@dataclass(slots=True)
class FunctionFlow:
    """How values move through one function's own body (nested functions excluded): what each
    local name is assigned, what is returned, and what leaves the locals another way."""

    assigned: dict[str, list[ast.expr]]  # plain ``name = value``
    augmented: dict[str, list[ast.expr]]  # ``name += value``
    returns: list[ast.expr]
    stored: list[ast.expr]  # values also assigned to an attribute, item or unpacking target
    outer_names: set[str]  # ``global``/``nonlocal`` names


def function_flow(function: FunctionNode, ctx: PythonContext) -> FunctionFlow:
    """The :class:`FunctionFlow` of a function, computed once per module."""
    cache: dict[int, FunctionFlow] = ctx.module_state.setdefault("analysis:flow", {})
    flow = cache.get(id(function))
    if flow is not None:
        return flow
    flow = FunctionFlow({}, {}, [], [], set())
    for node in walk_body(function.body):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    flow.assigned.setdefault(target.id, []).append(node.value)
            if any(not isinstance(target, ast.Name) for target in node.targets):
                flow.stored.append(node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            flow.augmented.setdefault(node.target.id, []).append(node.value)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            flow.outer_names.update(node.names)
        elif isinstance(node, ast.Return) and node.value is not None:
            flow.returns.append(node.value)
    cache[id(function)] = flow
    return flow


def _factory_calls(function: FunctionNode, ctx: PythonContext) -> frozenset[str]:
    flow = function_flow(function, ctx)
    assigned = flow.assigned
    shared_names = set(flow.outer_names)
    shared_names.update(value.id for value in flow.stored if isinstance(value, ast.Name))
    shared_calls = {id(value) for value in flow.stored if not isinstance(value, ast.Name)}
    found: set[str] = set()
    pending = list(flow.returns)
    seen: set[int] = set()
    while pending:
        expr = pending.pop()
        if id(expr) in seen:
            continue
        seen.add(id(expr))
        if isinstance(expr, ast.Await):
            pending.append(expr.value)
        elif isinstance(expr, ast.IfExp):
            pending.extend((expr.body, expr.orelse))
        elif isinstance(expr, ast.BoolOp):
            pending.extend(expr.values)
        elif isinstance(expr, ast.Name):
            if expr.id not in shared_names:
                pending.extend(assigned.get(expr.id, ()))
        elif isinstance(expr, ast.Call) and id(expr) not in shared_calls:
            helper = module_function(expr, ctx)
            if helper is not None:
                if helper is not function:
                    found |= factory_calls(helper, ctx)
                continue
            name = ctx.qualname(expr.func)
            if name is not None:
                found.add(name)
    return frozenset(found)
