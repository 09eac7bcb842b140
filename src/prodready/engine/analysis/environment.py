"""Environment lookups: ``os.environ[...]``, ``os.getenv(...)`` and typed helpers (``env.int``)."""

from __future__ import annotations

import ast

from prodready.engine.analysis.arguments import argument, has_star_kwargs, keyword_value
from prodready.engine.analysis.literals import constant_str, dotted, is_none
from prodready.engine.python import PythonContext

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
