"""Configuration: environment flags parsed as truthy strings (CFG004)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, ModuleMemo, PythonContext, Severity, python_rule
from prodready.plugin.analysis import EnvLookup, constant_str, env_lookup, log_call
from prodready.rules.configuration._shared import _config_or_service_code

# -- CFG004 -----------------------------------------------------------------------------------

_FLAG_NAME = re.compile(
    r"^(DEBUG|TESTING|VERBOSE|DRY_?RUN|MAINTENANCE|OFFLINE)$"
    r"|(^|_)(ENABLE|ENABLED|DISABLE|DISABLED|USE|FEATURE|FLAG|ALLOW|SKIP|IS)(_|$)"
    # A negation or a checking verb names a switch too (DONT_VERIFY_AT_HASH, NO_SSL_CHECK).
    r"|(^|_)(DONT|DO_NOT|NO|NOT|VERIFY|VALIDATE|CHECK|REQUIRE|FORCE|IGNORE|INSECURE|STRICT)(_|$)"
    r"|_(MODE|ON|OFF|DEBUG)$",
    re.IGNORECASE,
)
_CONVERTERS = frozenset(
    {"builtins.str", "builtins.int", "builtins.float", "json.loads", "ast.literal_eval"}
)
_CONVERTER_METHODS = frozenset(
    {"lower", "upper", "strip", "casefold", "strtobool", "str2bool", "to_bool", "parse_bool"}
)


def _env_subscript(expr: ast.AST | None, ctx: PythonContext) -> str | None:
    """``os.environ["X"]`` -> ``"X"``."""
    if isinstance(expr, ast.Subscript) and ctx.qualname(expr.value) == "os.environ":
        return constant_str(expr.slice) or "?"
    return None


def _env_read(expr: ast.AST | None, ctx: PythonContext) -> tuple[str, EnvLookup | None] | None:
    """An uncast read of an environment variable (a string): its name and lookup."""
    if isinstance(expr, ast.Call):
        lookup = env_lookup(expr, ctx)
        if lookup is None or lookup.cast is not None:
            return None
        return lookup.name or "?", lookup
    name = _env_subscript(expr, ctx)
    return (name, None) if name is not None else None


# ids of the environment reads whose value the module converts (int(os.getenv(...))...)
_PARSED: ModuleMemo[set[int]] = ModuleMemo("CFG004:parsed", lambda _: set())


@python_rule(
    code="CFG004",
    name="env-flag-parsed-as-truthy",
    category=Category.CONFIGURATION,
    severity=Severity.MEDIUM,
    summary='Environment flag tested for truthiness: "false" and "0" are true strings',
    calls=(
        "builtins.bool",
        "os.getenv",
        "os.environ.get",
        "decouple.*",
        "starlette.config.Config",
        "environ.Env",
        *_CONVERTERS,
        *(f"*.{method}" for method in _CONVERTER_METHODS),
    ),
    nodes=(ast.Compare, ast.If, ast.IfExp),
    fix='Parse it explicitly: os.getenv("FLAG", "false").lower() in {"1", "true", "yes"}',
)
def env_flag_parsed_as_truthy(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags environment variables used as booleans without parsing: `bool(os.getenv("X"))`,
    `os.getenv("DEBUG", False)` (a bool default for a string value), `os.getenv("X") == True`,
    and `if os.getenv("ENABLE_X"):` / `if os.environ.get("DISABLE_AUTH"):` for flag-like
    names (a bool default on a name that does not say it is a flag -- a database name, a URL,
    a library's setting, where False may only mean unset -- is reported at low with low
    confidence: the rule cannot tell it is a flag).
    `os.getenv("X", "false").lower() in ("1", "true")` and typed readers
    (`env.bool()`, `config(..., cast=bool)`) are fine, and so is a test whose branch only
    reports that the variable is set (a deprecation warning or system-check message): it asks
    whether the variable is present, not what it says.

    ## Why it breaks production
    Environment variables are strings. `DEBUG=false`, `DEBUG=0` and `DEBUG=no` are non-empty
    strings, so they are all *true*: the flag meant to turn debug mode or a feature off turns it
    on -- exposing tracebacks and settings, or enabling a half-finished feature -- and a
    `False` default hides the bug until someone sets the variable. `== True` is never true
    for a string, so that flag can never be switched on.

    ## Example
    ```python
    DEBUG = os.getenv("DEBUG", False)
    ENABLE_SIGNUP = bool(os.environ.get("ENABLE_SIGNUP"))
    ```

    ## Use instead
    ```python
    def env_flag(name: str, default: bool = False) -> bool:
        value = os.getenv(name)
        return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}

    DEBUG = env_flag("DEBUG")
    ```
    """
    if ctx.facts.is_test:
        return
    parsed = ctx.memo(_PARSED)
    if isinstance(node, ast.Call):
        name = ctx.call_name or ""
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if name in _CONVERTERS or method in _CONVERTER_METHODS:
            parsed.update(id(arg) for arg in node.args if isinstance(arg, ast.Call))
            if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call):
                parsed.add(id(node.func.value))
            return
        if name == "builtins.bool":
            read = _env_read(node.args[0], ctx) if len(node.args) == 1 else None
            if read is not None and _config_or_service_code(ctx):
                parsed.add(id(node.args[0]))
                ctx.report(
                    node,
                    f"bool() of environment variable {read[0]} is True for any non-empty "
                    'string, including "false" and "0": parse the value explicitly',
                )
            return
        if id(node) in parsed:
            return
        lookup = env_lookup(node, ctx)
        if lookup is None or lookup.cast is not None:
            return
        default = lookup.default
        if isinstance(default, ast.Constant) and isinstance(default.value, bool):
            name = lookup.name or "this variable"
            if lookup.name is not None and not _FLAG_NAME.search(lookup.name):
                # A database name, a URL, a library's setting: False may only mean "unset"
                # (``if not name:``), which "false" never is in practice.
                ctx.report(
                    node,
                    f"{name} defaults to {default.value} but is a string when set: prodready "
                    "could not tell whether it is a flag (its name does not say so) or a value "
                    "whose False default only means unset; if it is a flag, parse it into a bool",
                    severity=Severity.LOW,
                    confidence=Confidence.LOW,
                )
                return
            ctx.report(
                node,
                f"{name} defaults to {default.value} but is a string "
                f'when set, and "false" is truthy: parse it into a bool explicitly',
            )
        return
    if isinstance(node, ast.Compare):
        if not any(
            isinstance(c, ast.Constant) and isinstance(c.value, bool) for c in node.comparators
        ):
            parsed.update(id(part) for part in (node.left, *node.comparators))
            return
        for part in (node.left, *node.comparators):
            read = _env_read(part, ctx)
            if read is not None:
                parsed.add(id(part))
                ctx.report(
                    node,
                    f"environment variable {read[0]} is a string and never equals True/False: "
                    "parse it into a bool explicitly",
                )
                return
        return
    if isinstance(node, ast.If | ast.IfExp):
        test = node.test
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            test = test.operand
        read = _env_read(test, ctx)
        if read is None or not _FLAG_NAME.search(read[0]) or not _config_or_service_code(ctx):
            return
        lookup = read[1]
        default = lookup.default if lookup is not None else None
        if default is not None and constant_str(default) is None:
            return  # a non-string default: reported at the lookup
        if isinstance(node, ast.If) and not node.orelse and _only_notices(node.body, ctx):
            return  # ``if os.environ.get("OLD_FLAG"): warn(...)``: whether it is set at all
        parsed.add(id(test))
        ctx.report(
            node.test,
            f'flag {read[0]} is tested for truthiness: "false" and "0" are non-empty strings and '
            "count as set. Parse it explicitly",
            confidence=Confidence.MEDIUM,
        )


_NOTICE_CALLS = frozenset({"warnings.warn", "builtins.print"})
_NOTICE_CLASSES = re.compile(r"(Warning|Error|Info|Debug|Critical|Message)$")


def _only_notices(body: list[ast.stmt], ctx: PythonContext) -> bool:
    """The branch only tells someone the variable is set -- a log line, ``warnings.warn``,
    a system-check message appended (``warnings.append(Warning("X is deprecated"))``) -- and
    changes nothing else: the test asks whether the variable is present, which its value
    ("false" included) rightly answers."""
    for statement in body:
        call = statement.value if isinstance(statement, ast.Expr) else None
        if not isinstance(call, ast.Call):
            return False
        if log_call(call, ctx) is not None or ctx.qualname(call.func) in _NOTICE_CALLS:
            continue
        method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
        made = call.args[0] if method in {"append", "add"} and len(call.args) == 1 else None
        if not (
            isinstance(made, ast.Call)
            and _NOTICE_CLASSES.search((ctx.qualname(made.func) or "").rsplit(".", 1)[-1])
        ):
            return False
    return bool(body)
