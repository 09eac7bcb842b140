"""Error handling: what the code around a swallowing handler says its outcome is (ERR001).

A broad handler that discards the error hides a failure unless the code states what a failure
means there: the function is an advisory framework check, the block only runs in development,
it probes an attribute ``hasattr`` just found, the results the block would set were given
defaults before it, or the function's docstring promises None.
"""

from __future__ import annotations

import ast
import re

from prodready.plugin import PythonContext
from prodready.plugin.analysis import calls_in, dependency_call, dotted, is_none, log_call
from prodready.rules.error_handling._attempts import calls_a_writer
from prodready.rules.error_handling._failed_outcomes import following_statements

# Django's system-check registration: a registered check returns warnings, and a probe it
# cannot run (the database is down during ``manage.py check``) just means no warning.
_CHECK_REGISTRARS = frozenset(
    {"django.core.checks.register", "django.core.checks.registry.register"}
)
_DEBUG_FLAG = re.compile(r"(^|\.)debug$", re.IGNORECASE)
_NONE_WORD = re.compile(r"\bNone\b")
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)


def advisory_check(ctx: PythonContext) -> bool:
    """The enclosing function is a Django system check (``@register()``, ``@register(tag)``)."""
    function = ctx.function
    if function is None or not isinstance(function.node, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    for decorator in function.node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if (ctx.qualname(target) or "") in _CHECK_REGISTRARS:
            return True
    return False


def debug_only(node: ast.stmt, ctx: PythonContext) -> bool:
    """The statement runs only in development: inside ``if settings.DEBUG:`` / ``if DEBUG:``
    (within its function)."""
    parents = ctx.parents()
    child: ast.AST = node
    parent = parents.get(id(node))
    while parent is not None and not isinstance(parent, _SCOPES):
        if (
            isinstance(parent, ast.If)
            and child in parent.body
            and _DEBUG_FLAG.search(dotted(parent.test) or "")
        ):
            return True
        child, parent = parent, parents.get(id(parent))
    return False


def probes_optional_api(node: ast.Try, ctx: PythonContext) -> bool:
    """The ``try`` sits right under ``if hasattr(obj, "name"):`` and uses ``obj.name``: it
    probes an API a library version may lack, and the code already expects it to be absent or
    to behave differently."""
    branch = ctx.parents().get(id(node))
    if not isinstance(branch, ast.If) or node not in branch.body:
        return False
    test = branch.test
    if not (
        isinstance(test, ast.Call)
        and ctx.qualname(test.func) == "builtins.hasattr"
        and len(test.args) == 2
        and isinstance(test.args[1], ast.Constant)
        and isinstance(test.args[1].value, str)
    ):
        return False
    owner, attribute = ast.dump(test.args[0]), test.args[1].value
    return any(
        isinstance(n, ast.Attribute) and n.attr == attribute and ast.dump(n.value) == owner
        for statement in node.body
        for n in ast.walk(statement)
    )


def documents_none(ctx: PythonContext) -> bool:
    """The enclosing function's docstring says it may answer None: callers are written for it."""
    function = ctx.function
    if function is None or not isinstance(function.node, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    return bool(_NONE_WORD.search(ast.get_docstring(function.node) or ""))


def preset_defaults(node: ast.Try, ctx: PythonContext) -> bool:
    """Every name the ``try`` assigns was given a constant value other than None before it, in
    its block or an enclosing one of the same function (``kind = "choices"`` then ``try: kind =
    control.tag``): a failure leaves those defaults, the result the code planned for."""
    assigned = {
        target.id
        for statement in ast.walk(ast.Module(body=node.body, type_ignores=[]))
        if isinstance(statement, ast.Assign | ast.AnnAssign | ast.AugAssign)
        for target in _targets(statement)
        if isinstance(target, ast.Name)
    }
    # Names only the try itself reads (``control = lookup(...)`` then ``control.tag``) are
    # its scratch values: a failure cannot leave them half-set for the code after it.
    inside = {id(n) for n in ast.walk(ast.Module(body=node.body, type_ignores=[]))}
    function = ctx.function
    scope = function.node if function is not None else node
    read_after = {
        n.id
        for n in ast.walk(scope)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and id(n) not in inside
    }
    results = assigned & read_after
    if not results:
        return False
    preset: set[str] = set()
    parents = ctx.parents()
    child: ast.AST = node
    parent = parents.get(id(node))
    while parent is not None:
        for field in ("body", "orelse", "finalbody"):
            block = getattr(parent, field, None)
            if isinstance(block, list) and child in block:
                preset.update(_constant_names(block[: block.index(child)]))
        if isinstance(parent, _SCOPES):
            break
        child, parent = parent, parents.get(id(parent))
    return results <= preset


def _targets(statement: ast.Assign | ast.AnnAssign | ast.AugAssign) -> list[ast.AST]:
    """The nodes a statement assigns to (the names inside ``a, b = ...`` too)."""
    if isinstance(statement, ast.Assign):
        return [n for target in statement.targets for n in ast.walk(target)]
    return [statement.target]


def _constant_names(statements: list[ast.stmt]) -> set[str]:
    """Names the statements assign a constant other than None (``to_name = "text"``)."""
    found: set[str] = set()
    for statement in statements:
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant):
            if is_none(statement.value):
                continue
            found.update(t.id for t in statement.targets if isinstance(t, ast.Name))
    return found


# What an author writes above a step whose failure is acceptable (``# ... but it's ok if we
# can't``, ``# best effort``, ``# failures here are harmless``).
_ACCEPTED_FAILURE = re.compile(
    r"\b(?:best[- ]effort|(?:it'?s|it is) (?:ok|okay|fine) if|(?:ok|okay|fine) (?:if|to) "
    r"(?:it |this |we )?(?:fail|can'?t|cannot)|harmless|non-?fatal|not critical)",
    re.IGNORECASE,
)


def failure_accepted(node: ast.Try, ctx: PythonContext) -> bool:
    """A comment on the line just above the ``try`` says its failure is acceptable."""
    lines = ctx.lines
    above = node.lineno - 1
    if not 0 < above <= len(lines):
        return False
    text = lines[above - 1].strip()
    return text.startswith("#") and _ACCEPTED_FAILURE.search(text) is not None


# Levels below what production alerts on (and often below what it ships at all).
_QUIET_LEVELS = frozenset({"debug", "info"})


def quiet_log(statement: ast.stmt, ctx: PythonContext) -> str | None:
    """``logger.info("will retry later: %s", exc)``: the level of a log call that records a
    failure where nobody looks -- to the caller the error is as gone as with ``pass``."""
    value = statement.value if isinstance(statement, ast.Expr) else None
    if isinstance(value, ast.Call):
        method = log_call(value, ctx)
        if method in _QUIET_LEVELS:
            return method
    return None


def lost_remote_write(node: ast.Try, ctx: PythonContext) -> bool:
    """The ``try`` writes to another service -- a call that reaches one (``requests.post``,
    ``client.send``, ``Model.objects.create``) named for changing something -- and the code
    right after it saves, records or returns as if the write had happened."""
    wrote = any(
        calls_a_writer([ast.Expr(value=call)])
        and dependency_call([ast.Expr(value=call)], ctx) is call
        for call in calls_in(node.body)
    )
    return wrote and any(_goes_on(statement) for statement in following_statements(node, ctx))


# Calls that persist what the block was meant to produce.
_PERSISTS = frozenset({"save", "commit", "flush", "update", "asave", "put", "set"})


def _goes_on(statement: ast.stmt) -> bool:
    """``return order``, ``order.ref = ...``, ``db.commit()``, ``shipment.save()``."""
    if isinstance(statement, ast.Return):
        return statement.value is not None and not is_none(statement.value)
    if isinstance(statement, ast.Assign):
        return any(isinstance(target, ast.Attribute) for target in statement.targets)
    value = statement.value if isinstance(statement, ast.Expr) else None
    if isinstance(value, ast.Await):
        value = value.value
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr in _PERSISTS
    )


def unlogged(handler: ast.ExceptHandler, ctx: PythonContext, reraise: bool = True) -> str:
    """How the block leaves the failure unrecorded, for a message."""
    level = next(filter(None, (quiet_log(s, ctx) for s in handler.body)), None)
    if level is None:
        return "without logging or re-raising it" if reraise else "without logging it"
    return f"logging it only at {level} level" + (" and not re-raising it" if reraise else "")


_PARSERS = frozenset(
    {
        "int",
        "float",
        "complex",
        "decimal",
        "loads",
        "literal_eval",
        "strptime",
        "fromisoformat",
        "fromtimestamp",
        "b64decode",
        "urlsafe_b64decode",
        "decode",
        "unquote",
        "uuid",
        "ip_address",
        "ip_network",
        "ip_interface",
        "deserialize",
        "unpack",
        "fromstring",
        "from_string",
    }
)


def is_parser(name: str) -> bool:
    """``int``, ``loads``, ``parse_date``, ``ParseFromString``: a call that converts a value
    and raises when it does not fit."""
    lowered = name.lower().lstrip("_")
    return lowered in _PARSERS or lowered.startswith("parse") or lowered.endswith("parse")
