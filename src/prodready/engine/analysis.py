"""Small analyses that several rules share: call arguments, literal values, strings built at run
time, loggers. Everything here is a pure function of AST nodes and the context.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

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
    return not is_dynamic_string(value, ctx, depth + 1, require_string=False)


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
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Name):
        return _is_constant_name(expr.id, ctx, depth)
    if isinstance(expr, ast.Tuple | ast.List):
        return all(_is_static(element, ctx, depth) for element in expr.elts)
    if isinstance(expr, ast.Attribute):
        # ``Model._meta.db_table``, ``settings.TABLE``: names of schema objects, not user data.
        return expr.attr.isupper() or expr.attr in {"db_table", "table_name", "__tablename__"}
    if isinstance(expr, ast.JoinedStr | ast.BinOp | ast.Call):
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
    imports a CLI library and declares no routes, it is a ``__main__`` script that uses no
    service framework, or it lives where scripts live (``scripts/``, ``bin/``, Django
    management commands, migrations, ``manage.py``).

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
    if any(module.split(".")[0] in CLI_LIBRARIES for module, _ in facts.imports):
        return True
    return facts.has_main_guard and not facts.frameworks


def in_service_code(ctx: PythonContext) -> bool:
    """Code that runs inside a long-lived service: a module using a web/worker framework or
    declaring routes, that is neither a test nor a script (see :func:`is_script`)."""
    return ctx.facts.is_service and not ctx.facts.is_test and not is_script(ctx)


# -- environment lookups ----------------------------------------------------------------------

# Callee -> (position of a positional default, position of a positional cast); None: keyword only.
_ENV_CALLS: dict[str, tuple[int | None, int | None]] = {
    "os.getenv": (1, None),
    "os.environ.get": (1, None),
    "os.environ.setdefault": (1, None),
    "decouple.config": (1, None),
    "decouple.AutoConfig": (1, None),
    "decouple.Config": (1, None),
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
