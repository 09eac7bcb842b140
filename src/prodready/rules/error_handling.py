"""Error handling: failures that are swallowed, hidden or reported as success."""

from __future__ import annotations

import ast

from prodready.engine.analysis import (
    argument,
    calls_in,
    catches_broadly,
    constant,
    constant_str,
    dependency_call,
    dotted,
    has_keyword,
    has_star_kwargs,
    in_service_code,
    is_framework_source,
    is_none,
    is_script,
    keyword_value,
    log_call,
    orm_query,
    walk_body,
)
from prodready.engine.python import PythonContext
from prodready.engine.registry import python_rule
from prodready.model import Category, Confidence, Severity

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
_IMPORTERS = frozenset({"import_module", "import_string", "__import__", "import_from_string"})
_IMPORT_CALLS = frozenset(
    {"importlib.import_module", "builtins.__import__", "django.utils.module_loading.import_string"}
)
# Exceptions that translate an error for a client or a user rather than report a bug: their
# traceback is not logged, so an explicit cause would not be seen either.
_USER_FACING = frozenset(
    {
        "Http404",
        "HTTPException",
        "NotFound",
        "PermissionDenied",
        "ValidationError",
        "BadRequest",
        "SuspiciousOperation",
        "CommandError",
        "ClickException",
        "UsageError",
        "BadParameter",
        "Abort",
        "Exit",
        "SystemExit",
        "KeyboardInterrupt",
        "StopIteration",
        "StopAsyncIteration",
        "GeneratorExit",
        "NotImplementedError",
        "SkipTest",
    }
)


def _walk_handler(body: list[ast.stmt]) -> list[ast.AST]:
    """Nodes of an ``except`` block, without the bodies of nested ``except`` blocks (each is
    judged on its own) or nested functions."""
    nodes: list[ast.AST] = []
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        nodes.append(node)
        if isinstance(
            node,
            ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda | ast.ExceptHandler,
        ):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return nodes


# -- ERR001 ----------------------------------------------------------------------------------


def _swallows(body: list[ast.stmt], ctx: PythonContext) -> bool:
    """The block does nothing with the error: ``pass``, ``...``, ``continue``, ``print(...)``,
    ``return``/``return None``."""
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
    if not isinstance(value, ast.Call):
        return _cleanup_step(statement, ctx)
    last = (ctx.qualname(value.func) or "").rsplit(".", 1)[-1]
    lowered = last.lower()
    if lowered in _IMPORTERS:
        return True  # ``import_module(path)``, ``import_string(path)``: an optional plugin
    if lowered in _PARSERS or lowered.startswith("parse") or lowered.endswith("parse"):
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
    return any(word in last for word in _CLEANUP_WORDS)


def _fallback(node: ast.Try, handler: ast.ExceptHandler, ctx: PythonContext) -> bool:
    """``try: return fast_path() except Exception: pass`` followed by a slower path: the
    handler hands over to the code after the ``try``, it does not drop the result."""
    if not node.body or not isinstance(node.body[-1], ast.Return):
        return False
    if not all(
        isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        for s in handler.body
    ):
        return False
    function = ctx.function
    return function is not None and function.node.body[-1] is not node


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
    fix="Log with logger.exception(...) (or exc_info=True), re-raise, or catch only the "
    "exceptions you expect.",
)
def broad_except_swallowed(node: ast.Try, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `except:`, `except Exception:` and `except BaseException:` blocks (also inside a
    tuple) whose body only does `pass`, `...`, `continue`, `print(...)` or `return None`: no
    logging, no re-raise, no use of the exception -- in HTTP handlers, in service modules and
    around calls to other services (HTTP clients, databases, queues, the ORM). Import probes,
    parses with a fallback, `try/except/else` probes, best-effort teardown (`close()`,
    `os.remove(tmp)`, methods such as `__del__`/`close`/`shutdown`) and handlers nested in
    another `except` are left alone.

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
        if not _swallows(handler.body, ctx) or not catches_broadly(handler, ctx):
            continue
        function = ctx.function
        if function is not None and _tolerant_function(function.name):
            return
        if _best_effort(node.body, ctx) or _fallback(node, handler, ctx):
            return
        if node.orelse and all(isinstance(s, ast.Pass) for s in handler.body):
            return  # ``try/except: pass/else:``: the else block is the success-only path
        if not _production_path(node, ctx):
            return
        caught = "except:" if handler.type is None else f"except {ctx.segment(handler.type)}:"
        ctx.report(
            handler,
            f"{caught} discards the error without logging or re-raising it: failures "
            "disappear without a trace. Log it with logger.exception(...), re-raise, or catch "
            "only the exceptions you expect here.",
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


# -- ERR003 ----------------------------------------------------------------------------------


@python_rule(
    code="ERR003",
    name="raise-without-from-inside-except",
    category=Category.ERROR_HANDLING,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="New exception raised inside an except block without 'from': the cause is muddled",
    nodes=(ast.Raise,),
    fix="Raise with 'from exc' to chain the cause (or 'from None' to drop it on purpose).",
)
def raise_without_from(node: ast.Raise, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `raise NewError(...)` inside an `except` block of the same function without a
    `from` clause. Re-raising (`raise`, `raise exc`) and exceptions that only translate an
    error for a client or a user (`Http404`, `HTTPException`, `ValidationError`,
    `CommandError`, `SystemExit`...) are left alone.

    ## Why it breaks production
    Without `from`, Python records the original error only as the implicit context and prints
    "During handling of the above exception, another exception occurred" -- which reads as a
    second, unrelated bug in the handler. On-call engineers chase the wrong failure, and error
    trackers group the event under the wrapper instead of its cause. `from exc` states that the
    new error was caused by the original; `from None` states that the original is irrelevant.

    ## Example
    ```python
    try:
        profile = billing_client.get_profile(user_id)
    except requests.RequestException as exc:
        raise BillingUnavailable(f"cannot load profile {user_id}")
    ```

    ## Use instead
    ```python
    try:
        profile = billing_client.get_profile(user_id)
    except requests.RequestException as exc:
        raise BillingUnavailable(f"cannot load profile {user_id}") from exc
    ```
    """
    exc = node.exc
    if exc is None or node.cause is not None or not ctx.handlers:
        return
    # Libraries and tools translate errors on purpose, and Python chains the context anyway;
    # the cost of a misleading traceback is paid where a service's on-call reads it.
    if not in_service_code(ctx):
        return
    if isinstance(exc, ast.Call):
        target = exc.func
    elif isinstance(exc, ast.Name | ast.Attribute):
        target = exc
    else:
        return
    text = dotted(target)
    if text is None:
        return  # ``raise type(exc)(...)``, ``raise errors[code]``: not clearly a new class
    handler = ctx.handlers[-1]
    if handler.name is None:
        return  # the handler ignores the original: a deliberate translation (KeyError -> ...)
    if isinstance(target, ast.Name) and any(h.name == target.id for h in ctx.handlers):
        return  # re-raises the caught exception
    if isinstance(exc, ast.Call) and any(
        isinstance(value, ast.Name) and value.id == handler.name
        for value in [*exc.args, *(k.value for k in exc.keywords)]
    ):
        return  # ``raise WrapperError(exc)``: the original travels inside the new one
    last = text.rsplit(".", 1)[-1]
    if not last[:1].isupper() or last.isupper() or last in _USER_FACING:
        # lower case: a factory or a variable holding an exception; UPPER: a constant
        return
    hint = f"from {handler.name}"
    ctx.report(
        node,
        f"{last} is raised inside an except block without 'from': the traceback shows the "
        "original error only as 'During handling of the above exception, another exception "
        f"occurred'. Chain it explicitly with '{hint}' (or 'from None' to drop it on purpose).",
    )


# -- ERR004 ----------------------------------------------------------------------------------

_LOSSY_LEVELS = frozenset({"error", "warning", "warn", "critical", "fatal"})
_SEVERE_LEVELS = frozenset({"error", "critical", "fatal"})
_TRACEBACK_CALLS = ("traceback.", "sentry_sdk.capture_exception", "sentry_sdk.capture_event")


@python_rule(
    code="ERR004",
    name="error-logged-without-traceback",
    category=Category.ERROR_HANDLING,
    severity=Severity.LOW,
    summary="Exception logged with logger.error/warning but without its traceback",
    nodes=(ast.Try,),
    fix="Use logger.exception(...) or pass exc_info=True.",
)
def error_logged_without_traceback(node: ast.Try, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `logger.error(...)`, `logger.warning(...)` and `logger.critical(...)` calls inside an
    `except` block that neither re-raises nor logs the traceback anywhere else
    (`logger.exception`, `exc_info=`, `traceback.*`, `sentry_sdk.capture_exception`), when
    the block catches broadly (`Exception`, `BaseException`, bare) -- in HTTP handlers, service
    modules and around calls to other services. A narrow `except` already names the failure.

    ## Why it breaks production
    `logger.error(f"failed: {e}")` keeps only `str(e)` -- often just `'id'` for a `KeyError`
    or an empty string -- and throws away the exception type and the stack that says which
    line failed. When the incident comes, the log shows that something failed but not where or
    why, and the error cannot be reproduced from it.

    ## Example
    ```python
    try:
        invoice = build_invoice(order)
    except Exception as e:
        logger.error(f"Failed to build invoice: {e}")
        return None
    ```

    ## Use instead
    ```python
    try:
        invoice = build_invoice(order)
    except Exception:
        logger.exception("failed to build invoice for order %s", order.id)
        return None
    ```
    """
    if ctx.facts.is_test:
        return
    production: bool | None = None
    for handler in node.handlers:
        if not catches_broadly(handler, ctx):
            continue  # a narrow ``except`` names what went wrong; the message is enough there
        calls = _lossy_log_calls(handler, ctx)
        if not calls:
            continue
        if production is None:
            production = _production_path(node, ctx)
        if not production:
            return
        for call, method in calls:
            ctx.report(
                call,
                f"logger.{method}() in a broad except block logs the message but drops the "
                "traceback: the log will not say what failed or where. Use "
                "logger.exception(...) or pass exc_info=True.",
            )


def _lossy_log_calls(handler: ast.ExceptHandler, ctx: PythonContext) -> list[tuple[ast.Call, str]]:
    """Error/warning log calls of a block that neither re-raises nor records the traceback."""
    candidates: list[tuple[ast.Call, str]] = []
    for child in _walk_handler(handler.body):
        if isinstance(child, ast.Raise) and not _http_error(child):
            return []  # the exception travels on; whoever catches it can log it
        if not isinstance(child, ast.Call):
            continue
        method = log_call(child, ctx)
        if method is None:
            name = ctx.qualname(child.func) or ""
            if name.startswith(_TRACEBACK_CALLS):
                return []
            continue
        if method == "exception" or has_keyword(child, "exc_info") or has_star_kwargs(child):
            return []
        if method in _LOSSY_LEVELS:
            candidates.append((child, method))
    return candidates


# Exceptions that frameworks turn into a response without logging a traceback.
_HTTP_ERRORS = frozenset(
    {
        "HTTPException",
        "Http404",
        "NotFound",
        "BadRequest",
        "PermissionDenied",
        "APIException",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


def _http_error(node: ast.Raise) -> bool:
    """``raise HTTPException(500, ...)``: the client gets a status, the log gets nothing."""
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    text = dotted(exc)
    return text is not None and text.rsplit(".", 1)[-1] in _HTTP_ERRORS


def _production_path(node: ast.Try, ctx: PythonContext) -> bool:
    """The ``try`` runs where a hidden failure costs: in an HTTP handler, in a module of a
    service, or around a call to another service. Library and tool code that absorbs a failed
    local step (introspection, a cache file, a terminal probe) on purpose is left alone."""
    if ctx.route is not None:
        return True
    if is_script(ctx) or is_framework_source(ctx):
        return False
    return in_service_code(ctx) or dependency_call(node.body, ctx) is not None


# -- ERR005 ----------------------------------------------------------------------------------

_ERROR_KEYS = frozenset(
    {"error", "errors", "error_message", "error_code", "err", "exception", "detail"}
)
_MESSAGE_KEYS = frozenset({"message", "msg", "reason", "details"})
_STATUS_KEYS = frozenset({"status", "success", "ok", "code", "status_code"})
_FAILED = frozenset({"error", "fail", "failed", "failure", "err"})
_JSONIFY = frozenset({"flask.jsonify", "quart.jsonify", "flask.json.jsonify"})
# callee -> (keyword of the status, its position)
_RESPONSES = {
    "fastapi.responses.JSONResponse": ("status_code", 1),
    "fastapi.responses.ORJSONResponse": ("status_code", 1),
    "fastapi.responses.UJSONResponse": ("status_code", 1),
    "fastapi.JSONResponse": ("status_code", 1),
    "starlette.responses.JSONResponse": ("status_code", 1),
    "django.http.JsonResponse": ("status", None),
    "django.http.response.JsonResponse": ("status", None),
    "rest_framework.response.Response": ("status", 1),
}
_DICT_FRAMEWORKS = frozenset({"fastapi", "flask", "litestar"})


def _error_payload(expr: ast.AST | None) -> bool:
    """A literal dict that describes a failure (``{"error": ...}``, ``{"status": "error"}``)."""
    if not isinstance(expr, ast.Dict):
        return False
    keys = {constant_str(key) for key in expr.keys if key is not None}
    if "jsonrpc" in keys or ("data" in keys and "errors" in keys):
        return False  # JSON-RPC and GraphQL report errors in a 200 body by specification
    if keys & _ERROR_KEYS:
        return True
    for key, value in zip(expr.keys, expr.values, strict=True):
        name = constant_str(key)
        if name in {"success", "ok"} and constant(value) is False:
            return True
        if name == "status" and str(constant(value)).lower() in _FAILED:
            return True
    # ``{"message": str(exc)}``: a message alone is the error; next to data it is not.
    return bool(keys & _MESSAGE_KEYS) and keys <= _MESSAGE_KEYS | _STATUS_KEYS


def _sets_status(handler: ast.ExceptHandler) -> bool:
    """``response.status_code = 500`` in the block: the status is set out of band."""
    for child in walk_body(handler.body):
        if isinstance(child, ast.Assign):
            for target in child.targets:
                if isinstance(target, ast.Attribute) and target.attr in {"status_code", "status"}:
                    return True
    return False


@python_rule(
    code="ERR005",
    name="exception-returned-as-success",
    category=Category.ERROR_HANDLING,
    severity=Severity.MEDIUM,
    summary="HTTP handler catches an error and returns an error body with status 200",
    nodes=(ast.Return,),
    fix="Return an error status: (jsonify(...), 503), JSONResponse(..., status_code=502), "
    "JsonResponse(..., status=500), or raise HTTPException.",
)
def exception_returned_as_success(node: ast.Return, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `return` statements in the `except` block of an HTTP handler that send an error
    payload with the default 200 status: a bare dict such as `{"error": str(e)}` (Flask,
    FastAPI), `jsonify(...)` outside a `(body, status)` tuple, `JSONResponse(...)` without
    `status_code`, Django `JsonResponse(...)` or DRF `Response(...)` without `status`.

    ## Why it breaks production
    Status codes are what clients, retries, load balancers, API gateways, dashboards and
    alerts look at. A failure returned as 200 is counted as a success everywhere: the error
    rate stays flat during an outage, clients do not retry or fall back, caches may store the
    error body, and the client code parses an error object as if it were the data.

    ## Example
    ```python
    @app.post("/orders")
    def create_order():
        try:
            order = orders.create(request.get_json())
        except Exception as e:
            return jsonify({"error": str(e)})
        return jsonify(order.to_dict()), 201
    ```

    ## Use instead
    ```python
    @app.post("/orders")
    def create_order():
        try:
            order = orders.create(request.get_json())
        except OrderRejected as e:
            return jsonify({"error": str(e)}), 422
        return jsonify(order.to_dict()), 201
    ```
    """
    value = node.value
    if value is None or not ctx.handlers or ctx.facts.is_test:
        return
    function = ctx.function
    if function is None or function.route is None:
        return
    framework = function.route.framework
    if isinstance(value, ast.Dict):
        if framework not in _DICT_FRAMEWORKS or not _error_payload(value):
            return
        shape = "an error dict"
    elif isinstance(value, ast.Call):
        name = ctx.qualname(value.func) or ""
        if name in _JSONIFY:
            payload: ast.expr | None = value.args[0] if len(value.args) == 1 else None
            if value.keywords and not has_star_kwargs(value):
                # ``jsonify(error=..., success=False)`` builds the dict from its keywords
                payload = ast.Dict(
                    keys=[ast.Constant(k.arg) for k in value.keywords],
                    values=[k.value for k in value.keywords],
                )
            if not _error_payload(payload):
                return
            shape = f"{name.rsplit('.', 1)[-1]}(...)"
        elif name in _RESPONSES:
            keyword, position = _RESPONSES[name]
            if has_star_kwargs(value) or argument(value, position, keyword) is not None:
                return
            payload = argument(value, 0, "content") or keyword_value(value, "data")
            if not _error_payload(payload):
                return
            shape = f"{name.rsplit('.', 1)[-1]}(...) without {keyword}="
        else:
            return
    else:
        return
    if _sets_status(ctx.handlers[-1]):
        return
    ctx.report(
        node,
        f"This except block returns {shape} with the default 200 status: clients, retries, "
        "load balancers and error-rate alerts all count the failure as a success. Return an "
        "error status (4xx for the caller's mistakes, 5xx for ours) or raise an HTTP error.",
    )
