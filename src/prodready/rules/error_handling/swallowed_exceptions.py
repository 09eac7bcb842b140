"""Error handling: broad and bare excepts that swallow the failure (ERR001, ERR002)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Role, Severity, python_rule
from prodready.plugin.analysis import (
    calls_in,
    catches_broadly,
    dependency_call,
    dotted,
    is_none,
    orm_query,
    walk_body,
)
from prodready.rules.error_handling._announced_failures import (
    announces_continue,
    report_announced_continue,
)
from prodready.rules.error_handling._attempts import Attempt, attempt_kind, calls_a_writer
from prodready.rules.error_handling._bookkeeping import report_timestamp_touch, timestamp_touch
from prodready.rules.error_handling._handler_roles import removal_is_the_work, told_to_operator
from prodready.rules.error_handling._outcomes import (
    advisory_check,
    debug_only,
    documents_none,
    failure_accepted,
    is_parser,
    lost_remote_write,
    preset_defaults,
    probes_optional_api,
    quiet_log,
    unlogged,
)
from prodready.rules.error_handling._shared import _production_path

# Methods whose whole job is best-effort teardown: an error there has nowhere useful to go, and
# raising would mask the error (or the normal result) that led to the teardown.
_CLEANUP_FUNCTIONS = frozenset(
    {
        "__del__",
        "__exit__",
        "__aexit__",
        "close",
        "aclose",
        "cleanup",
        "clean_up",
        "dispose",
        "shutdown",
        "teardown",
        "tearDown",
        "terminate",
        "disconnect",
        "release",
        "stop",
        "finalize",
    }
)
# Steps of a teardown, matched inside callee names (``_drop_db``, ``remove_temp_file``).
_CLEANUP_WORDS = (
    "close",
    "unlink",
    "remove",
    "rmdir",
    "rmtree",
    "delete",
    "drop",
    "purge",
    "kill",
    "terminate",
    "cancel",
    "rollback",
    "shutdown",
    "stop",
    "disconnect",
    "release",
    "join",
    "dispose",
    "cleanup",
    "clean_up",
    "unregister",
    "flush",
)
_IMPORTERS = frozenset({"import_module", "import_string", "__import__", "import_from_string"})
_IMPORT_CALLS = frozenset(
    {"importlib.import_module", "builtins.__import__", "django.utils.module_loading.import_string"}
)


# -- ERR001 ----------------------------------------------------------------------------------


def _swallows(body: list[ast.stmt], ctx: PythonContext, attempt: ast.Try) -> bool:
    """The block does nothing with the error: ``pass``, ``...``, ``continue``, ``print(...)``,
    ``return``/``return None`` -- or logs it at debug/info level when the ``attempt`` writes
    to another service and the code after it goes on as if it had (elsewhere that level is
    a deliberate best-effort note)."""
    for statement in body:
        if isinstance(statement, ast.Pass | ast.Continue):
            continue
        if isinstance(statement, ast.Return):
            if statement.value is None or is_none(statement.value):
                continue
            return False
        if isinstance(statement, ast.Expr):
            value = statement.value
            if isinstance(value, ast.Constant):
                continue  # ``...`` or a comment-like string
            if isinstance(value, ast.Call) and ctx.qualname(value.func) == "builtins.print":
                continue
        if quiet_log(statement, ctx) is None or not lost_remote_write(attempt, ctx):
            return False
    return True


def _best_effort(attempt: list[ast.stmt], ctx: PythonContext) -> bool:
    """The guarded block probes for something that may legitimately be missing or invalid
    (an optional import, a parse, a lazy attribute) or is a teardown step: failure there is an
    expected outcome, not an error to report."""
    if any(isinstance(statement, ast.Import | ast.ImportFrom) for statement in attempt):
        return True  # optional dependency probe
    if len(attempt) != 1:
        return all(_cleanup_step(statement, ctx) for statement in attempt)
    statement = attempt[0]
    value = statement.value if isinstance(statement, ast.Assign | ast.Expr | ast.Return) else None
    if isinstance(value, ast.Await):
        value = value.value
    if isinstance(statement, ast.Expr) and isinstance(value, ast.Attribute | ast.Name):
        return True  # ``obj.lazy_property``: evaluated only to warm it up
    while isinstance(value, ast.Attribute | ast.Subscript):
        value = value.value  # ``parse_uri(source).model_id``: what was read from the call
    if not isinstance(value, ast.Call):
        return _cleanup_step(statement, ctx)
    last = (ctx.qualname(value.func) or "").rsplit(".", 1)[-1]
    if last.lower().lstrip("_") in _IMPORTERS:
        return True  # ``import_module(path)``, ``import_string(path)``: an optional plugin
    if is_parser(last):
        return True  # ``int(value)``, ``json.loads(raw)``: invalid input has a fallback
    return _cleanup_step(statement, ctx)


def _cleanup_step(statement: ast.stmt, ctx: PythonContext) -> bool:
    if isinstance(statement, ast.Delete):
        return True
    if not isinstance(statement, ast.Expr):
        return False
    call = statement.value.value if isinstance(statement.value, ast.Await) else statement.value
    if not isinstance(call, ast.Call):
        return False
    name = ctx.qualname(call.func) or ""
    if name in _IMPORT_CALLS:
        return True
    last = name.rsplit(".", 1)[-1].lower()
    words = [word for word in _CLEANUP_WORDS if word in last]
    return bool(words) and not removal_is_the_work(words, call, ctx)


def _fallback(node: ast.Try, handler: ast.ExceptHandler, ctx: PythonContext) -> bool:
    """``try: return fast_path() except Exception: pass`` followed by a slower path (also
    ``for name in names: try: probe(name); continue except Exception: pass`` followed by the
    other branch): the handler hands over to the code after the ``try``, it does not drop the
    result."""
    if not node.body or not isinstance(node.body[-1], ast.Return | ast.Continue | ast.Break):
        return False
    if not all(
        isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        for s in handler.body
    ):
        return False
    if isinstance(node.body[-1], ast.Continue | ast.Break):
        return _followed_in_block(node, ctx)
    function = ctx.function
    return function is not None and function.node.body[-1] is not node


def _followed_in_block(node: ast.stmt, ctx: PythonContext) -> bool:
    """Statements come after ``node`` in the body of its loop (after it or after an ``if`` or
    ``with`` that holds it): the code a ``continue`` in the ``try`` skips."""
    parents = ctx.parents()
    current: ast.AST = node
    for _ in range(8):
        parent = parents.get(id(current))
        if parent is None:
            return False
        for field in ("body", "orelse", "finalbody"):
            block = getattr(parent, field, None)
            if isinstance(block, list) and current in block and block[-1] is not current:
                return True
        if isinstance(
            parent, ast.For | ast.AsyncFor | ast.While | ast.FunctionDef | ast.AsyncFunctionDef
        ):
            return False
        current = parent
    return False


# Standard-library modules whose functions compute on values in memory: no I/O, no waiting.
_PURE_MODULES = (
    "base64.",
    "binascii.",
    "json.",
    "re.",
    "urllib.parse.",
    "datetime.",
    "uuid.",
    "ipaddress.",
    "decimal.",
    "shlex.",
    "string.",
    "math.",
    "posixpath.",
    "os.path.join",
    "os.path.basename",
    "os.path.dirname",
    "os.path.splitext",
)


def _pure_computation(attempt: list[ast.stmt], ctx: PythonContext) -> bool:
    """The guarded block only computes on values in memory -- string and dict methods,
    builtins, parsing with the standard library, attribute assignments -- so what it can raise
    is bad input or a missing attribute, never an outage of a database or a service: the
    handler's fallback is the documented result (``return "", ""`` when a URI does not
    parse), not a hidden failure."""
    for statement in attempt:
        called = {id(n.func) for n in ast.walk(statement) if isinstance(n, ast.Call)}
        for node in ast.walk(statement):
            if isinstance(node, ast.Await | ast.Yield | ast.YieldFrom | ast.With | ast.AsyncWith):
                return False
            if isinstance(node, ast.Call) and not _pure_call(node, ctx):
                return False
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Load)
                and isinstance(node.value, ast.Attribute)
                and id(node) not in called
            ):
                return False  # ``order.customer.name``: a related object may load lazily
    return True


def _pure_call(call: ast.Call, ctx: PythonContext) -> bool:
    name = ctx.qualname(call.func) or ""
    if name in _READS_OR_WRITES:
        return False
    if name.startswith(_PURE_MODULES):
        return True  # json.loads, base64.b64decode, urllib.parse.urlparse
    return _instant(call, ctx)


_READS_OR_WRITES = frozenset({"builtins.open", "builtins.input", "json.load", "json.dump"})


def _tolerant_function(name: str) -> bool:
    """``parse_date_safe``/``try_parse``/``close``/``__repr__``: the function exists to absorb
    failures (or must never raise)."""
    lowered = name.lower()
    return (
        name in _CLEANUP_FUNCTIONS
        or "safe" in lowered
        or "repr" in lowered
        or lowered.startswith("try_")
        or name == "__str__"
    )


@python_rule(
    code="ERR001",
    name="broad-except-swallowed",
    category=Category.ERROR_HANDLING,
    severity=Severity.MEDIUM,
    summary="except Exception/BaseException/bare that silently discards the error",
    nodes=(ast.Try,),
    # A management command runs in production (cron, release steps): see _production_path.
    roles=(Role.SERVICE, Role.MANAGEMENT_COMMAND),
    fix="Log with logger.exception(...) (or exc_info=True), re-raise, or catch only the "
    "exceptions you expect.",
)
def broad_except_swallowed(node: ast.Try, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `except:`, `except Exception:` and `except BaseException:` blocks (also inside a
    tuple) whose body only does `pass`, `...`, `continue`, `print(...)` or `return None` (or,
    around a write to another service -- a POST, a send, a create -- followed by code that
    saves, records or returns as if it was done, only logs at debug/info level, below what
    production alerts on): no logging, no re-raise, no use of the exception -- in HTTP
    handlers, in service modules and
    around calls to other services (HTTP clients, databases, queues, the ORM). Import probes,
    parses with a fallback, `try/except/else` probes, best-effort teardown (`close()`,
    `os.remove(tmp)`, methods such as `__del__`/`close`/`shutdown`) and handlers nested in
    another `except` are left alone, and so are handlers whose `try` only computes on values
    in memory (string methods, builtins, standard-library parsing: it can fail on bad input,
    never on an outage) or ends with `continue` before another branch of the loop. A `try`
    that only reads the local installation -- a bundled file opened for reading, a locale
    catalog, package metadata, the URL routing table -- guards an optional piece and is left
    alone too. A removal in another service by a function named for it (`def delete_episode():
    try: s3.delete_object(...)`) is that function's work, not a teardown, and is reported. Django
    management commands are judged like service code when the block calls another service:
    cron and release steps run them in production.

    Evidence tiers: a block that writes, sends or calls something whose effect is unknown, and
    a read whose data then silently goes missing, are reported at medium. A block that only
    looks something up from a store or another service, whose handler hands on an explicit
    absence -- `return None` from a function that otherwise returns a value (or a fall-through
    to its `return None`), or skipping the loop's current item -- is reported at low with low
    confidence: an outage and "not found" look alike there, and the message says the rule
    could not tell which one the code means. So is a lookup (or a block of unknown effect that
    reaches no other service) whose handler leaves in place the constant defaults its results
    were given before the `try`, and a block calling code of
    unknown effect that reaches no other service (a project helper) -- or whose function's
    docstring promises None -- in a function that answers None for it (a value-or-None
    helper: its callers are written for None). So is a `try` under a comment that calls its
    failure acceptable (`# best effort`, `# it's ok if we can't`): the author decided, the rule
    cannot tell whether an outage there should still leave a trace; so is a handler whose own
    message says so (`print("... Continuing.")`), and a `try` that only refreshes a timestamp
    (`obj.updated_at = now(); obj.save(update_fields=[...])`). A Django system check
    (`@register`), which only warns, a block under `if settings.DEBUG:` and a `try` right under
    `if hasattr(obj, "name"):` using `obj.name` (probing an API a version may lack) are left alone.

    ## Why it breaks production
    A broad handler that discards the error turns every failure -- a bug, a timeout, a full
    disk, a revoked credential -- into silence. The request "succeeds" with missing data, the
    batch skips records, and nobody knows until a customer does; when someone finally looks,
    there is no log line and no traceback to start from.

    ## Example
    ```python
    try:
        send_receipt_email(order)
    except Exception:
        pass
    ```

    ## Use instead
    ```python
    try:
        send_receipt_email(order)
    except SMTPException:
        logger.exception("receipt email failed for order %s", order.id)
    ```
    """
    if ctx.facts.is_test or ctx.handlers:
        # Inside an ``except``: a failure while handling a failure is secondary by design.
        return
    for handler in node.handlers:
        if not _swallows(handler.body, ctx, node) or not catches_broadly(handler, ctx):
            continue
        if told_to_operator(handler, ctx):
            continue
        function = ctx.function
        if function is not None and _tolerant_function(function.name):
            return
        if (
            _best_effort(node.body, ctx)
            or _fallback(node, handler, ctx)
            or _pure_computation(node.body, ctx)
        ):
            return
        if node.orelse and all(isinstance(s, ast.Pass) for s in handler.body):
            return  # ``try/except: pass/else:``: the else block is the success-only path
        kind = attempt_kind(node.body, ctx, _pure_call, is_parser)
        if kind is Attempt.LOCAL or not _production_path(node, ctx):
            return  # a bundled file, a catalog, a route: an optional piece may be absent
        if advisory_check(ctx) or debug_only(node, ctx) or probes_optional_api(node, ctx):
            return
        caught = "except:" if handler.type is None else f"except {ctx.segment(handler.type)}:"
        absence = _handed_on(node, handler, kind, ctx)
        if absence is not None:
            failure = "a failed lookup" if kind is Attempt.READ else "a failed call"
            ctx.report(
                handler,
                f"{caught} turns {failure} into {absence} {unlogged(handler, ctx, False)}: callers "
                "cannot tell an outage from a missing value. prodready could not tell whether "
                "that absence is all this lookup can mean here; log unexpected errors with "
                "logger.exception(...) or catch only the exceptions that mean 'not found'.",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )
            return
        if touched := timestamp_touch(node.body, ctx):
            report_timestamp_touch(handler, caught, touched, ctx)  # evidence tier: low
            return
        if announces_continue(handler, ctx):
            report_announced_continue(handler, caught, ctx)  # evidence tier: low
            return
        if failure_accepted(node, ctx):
            ctx.report(
                handler,
                f"{caught} discards the error of a step the comment above calls optional: "
                "prodready could not tell whether an outage there should still leave a trace; "
                "log unexpected errors at debug level or catch only the expected ones.",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )
            return
        ctx.report(
            handler,
            f"{caught} discards the error {unlogged(handler, ctx)}: failures "
            "disappear without a trace. Log it with logger.exception(...), re-raise, or catch "
            "only the exceptions you expect here.",
        )


def _handed_on(
    node: ast.Try, handler: ast.ExceptHandler, kind: Attempt, ctx: PythonContext
) -> str | None:
    """The explicit outcome the handler leaves in place of the failed block, when the code
    states one (see :func:`_absence`, :func:`preset_defaults`); None when the failure vanishes.
    A block that calls code of unknown effect has one only when it reaches no other system --
    or when the function's docstring promises None -- and the function answers None."""
    if kind is Attempt.READ:
        absence = _absence(node, handler, ctx)
        if absence is None and preset_defaults(node, ctx):
            return "the defaults set before it"
        return absence
    if calls_a_writer(node.body) or (
        dependency_call(node.body, ctx) is not None and not documents_none(ctx)
    ):
        return None
    if _absence(node, handler, ctx) == "None":
        return "None"
    # ``language = "en"; try: language = detect(text)``: code of unknown effect that reaches
    # no other system, whose failure leaves the constant default the code planned for
    return "the defaults set before it" if preset_defaults(node, ctx) else None


def _absence(node: ast.Try, handler: ast.ExceptHandler, ctx: PythonContext) -> str | None:
    """What the handler hands on instead of a failed read, when it is an explicit absence:
    "None" from a function that otherwise returns a value (returned by the handler, or by the
    ``return None`` the handler falls through to), or "a skipped item" of a loop over items
    the read is about. None when the failure just vanishes (the data is silently missing)."""
    passes = all(isinstance(s, ast.Pass | ast.Expr) for s in handler.body)
    function = ctx.function
    if function is not None and ctx.route is None and _returns_value(function.node.body):
        if any(isinstance(s, ast.Return) for s in handler.body):
            return "None"
        if passes and _returns_value(node.body) and _then_returns_none(node, function.node, ctx):
            return "None"
    loop = ctx.parents().get(id(node))
    if not isinstance(loop, ast.For | ast.AsyncFor) or node not in loop.body:
        return None
    skips = any(isinstance(s, ast.Continue) for s in handler.body)
    if not skips and not (passes and loop.body[-1] is node):
        return None
    items = {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}
    used = {n.id for n in walk_body(node.body) if isinstance(n, ast.Name)}
    return "a skipped item" if items & used else None


def _returns_value(body: list[ast.stmt]) -> bool:
    return any(
        isinstance(n, ast.Return) and n.value is not None and not is_none(n.value)
        for n in walk_body(body)
    )


def _then_returns_none(node: ast.Try, function: ast.AST, ctx: PythonContext) -> bool:
    """The ``try`` is followed by ``return None`` (or ends the function): a handler that
    passes hands the caller that None."""
    body: list[ast.stmt] = getattr(function, "body", [])
    if body and body[-1] is node:
        return True
    block = getattr(ctx.parents().get(id(node)), "body", [])
    if node not in block:
        return False
    following = block[block.index(node) + 1 : block.index(node) + 2]
    return bool(following) and (
        isinstance(following[0], ast.Return)
        and (following[0].value is None or is_none(following[0].value))
    )


# -- ERR002 ----------------------------------------------------------------------------------


@python_rule(
    code="ERR002",
    name="bare-except",
    category=Category.ERROR_HANDLING,
    severity=Severity.LOW,
    summary="Bare except: also catches KeyboardInterrupt/SystemExit and blocks graceful shutdown",
    nodes=(ast.Try,),
    fix="Catch Exception (or narrower) instead of a bare except:.",
)
def bare_except(node: ast.Try, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `except:` without an exception type, unless the block re-raises (a bare `raise`,
    `with safe_reraise():`) or keeps the exception (`sys.exc_info()`), or the `try` only
    guards builtin operations that finish before a stop request could arrive.

    ## Why it breaks production
    A bare `except:` catches `BaseException`: `SystemExit` raised by `sys.exit()`,
    `KeyboardInterrupt`, `GeneratorExit` and the cancellation exceptions of async and gevent
    workers. When the orchestrator stops a pod or a worker times out a task, the code swallows
    the request to stop and carries on, so the shutdown turns into a SIGKILL that drops
    in-flight work.

    ## Example
    ```python
    try:
        process(message)
    except:
        logger.exception("processing failed")
    ```

    ## Use instead
    ```python
    try:
        process(message)
    except Exception:
        logger.exception("processing failed")
    ```
    """
    if ctx.facts.is_test:
        return
    # The stop request only lands inside a ``try`` that runs for a while: a lone attribute
    # read or a builtin conversion is over before any signal could be swallowed there.
    long_running: bool | None = None
    for handler in node.handlers:
        if handler.type is not None or _reraises(handler, ctx):
            continue
        if long_running is None:
            long_running = any(not _instant(call, ctx) for call in calls_in(node.body))
        if long_running:
            ctx.report(
                handler,
                "Bare except: also catches SystemExit, KeyboardInterrupt and task "
                "cancellation, so a shutdown request is swallowed. Catch Exception (or "
                "narrower) instead.",
            )


_INSTANT_METHODS = frozenset(
    {
        "split",
        "rsplit",
        "strip",
        "lstrip",
        "rstrip",
        "lower",
        "upper",
        "startswith",
        "endswith",
        "replace",
        "partition",
        "encode",
        "decode",
        "format",
        "join",
        "get",
        "items",
        "keys",
        "values",
        "copy",
        "index",
        "find",
        "count",
    }
)


def _instant(call: ast.Call, ctx: PythonContext) -> bool:
    """A builtin or a string/dict method: over in microseconds, no I/O, no waiting."""
    name = ctx.qualname(call.func) or ""
    if name.startswith("builtins."):
        return True
    if name.startswith("sys.") and name != "sys.exit":
        return True
    if not isinstance(call.func, ast.Attribute) or call.func.attr not in _INSTANT_METHODS:
        return False
    return _plain_value(call.func.value, call, ctx)


def _plain_value(receiver: ast.expr, call: ast.Call, ctx: PythonContext) -> bool:
    """The receiver of ``.get()``/``.count()``... is local data (a dict, a string,
    ``os.environ``), not a client, a cache or an ORM manager whose method of the same name
    waits on the network: ``requests.get(url)``, ``cache.get(key)``,
    ``Order.objects.get(pk=...)``."""
    if orm_query(call, ctx) is not None:
        return False
    return dependency_call([ast.Expr(value=call)], ctx) is None


def _reraises(handler: ast.ExceptHandler, ctx: PythonContext) -> bool:
    for child in walk_body(handler.body):
        if isinstance(child, ast.Raise) and child.exc is None:
            return True
        if isinstance(child, ast.With) and any(
            "reraise" in (dotted(item.context_expr.func) or "").lower()
            for item in child.items
            if isinstance(item.context_expr, ast.Call)
        ):
            return True  # ``with safe_reraise():`` re-raises when the block ends
        if isinstance(child, ast.Call) and ctx.qualname(child.func) == "sys.exc_info":
            return True  # keeps the exception to re-raise or report it later
    return False
