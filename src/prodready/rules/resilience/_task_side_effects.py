"""Resilience: tasks that the worker retries automatically and that perform an external side
effect before another step that can fail (RES015).

Dramatiq retries a failed actor (``max_retries`` defaults to 20), Celery re-runs a task whose
``autoretry_for`` matches the error, Huey honours ``retries=``: every retry runs the whole
function again, so an SMS sent, an email mailed or a webhook posted before the failing step is
sent again on each attempt.
"""

from __future__ import annotations

import ast
import re

from prodready.plugin import PythonContext
from prodready.plugin.analysis import (
    calls_in,
    constant,
    dotted,
    keyword_value,
    log_call,
    task_decorator,
    walk_body,
)

_HTTP_WRITES = frozenset({"post", "put", "patch"})
_HTTP_CLIENTS = ("requests.", "httpx.", "aiohttp.", "urllib3.")
_MAILERS = (
    "django.core.mail.send_mail",
    "django.core.mail.send_mass_mail",
    "smtplib.SMTP.sendmail",
    "smtplib.SMTP.send_message",
    "flask_mail.Mail.send",
)
# A callee named for an outward action: send_sms, _notify_customer, charge_card, publish_event.
_OUTWARD = re.compile(
    r"^_*(send|notify|deliver|publish|charge|push|dispatch|email|mail|text|page|sms|post_to|call_webhook)(_|$)",
    re.IGNORECASE,
)
# Calls after the effect that only compute: everything else (a database write, a project
# helper, another remote call) can fail and trigger the retry.
_PURE_METHODS = frozenset(
    {"get", "items", "keys", "values", "format", "append", "strip", "lower", "upper", "split"}
    | {"join", "isoformat", "now", "utcnow", "today", "copy", "encode", "decode", "json"}
)
_PURE_MODULES = ("builtins.", "logging.", "json.", "datetime.", "time.", "uuid.", "math.")
# Libraries whose errors any database or network step may raise, whatever it is named.
_SHARED_ERROR_ROOTS = frozenset(
    {"builtins", "django", "sqlalchemy", "psycopg", "psycopg2", "pymysql", "MySQLdb", "asyncpg"}
    | {"sqlite3", "redis", "celery", "kombu", "socket", "ssl", "urllib3", "requests", "httpx"}
    | {"aiohttp", "http", "urllib", "concurrent", "asyncio"}
)


def automatic_retries(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> str | None:
    """How the worker retries this task on its own, or None."""
    decorator = task_decorator(node, ctx)
    if decorator is None:
        return None
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = ctx.qualname(target) or dotted(target) or ""
    options = decorator if isinstance(decorator, ast.Call) else None
    if name.endswith("actor") and "dramatiq" in (name + ctx.source[:2000]):
        retries = keyword_value(options, "max_retries") if options is not None else None
        if retries is None:
            return "Dramatiq retries a failed actor up to 20 times by default"
        value = constant(retries)
        return None if value == 0 else f"the actor retries (max_retries={ast.unparse(retries)})"
    if options is None:
        return None
    autoretry = keyword_value(options, "autoretry_for")
    if autoretry is not None and not (isinstance(autoretry, ast.Tuple) and not autoretry.elts):
        retries = keyword_value(options, "max_retries")
        if retries is not None and constant(retries) == 0:
            return None
        return f"Celery retries it on {ast.unparse(autoretry)}"
    retries = keyword_value(options, "retries")
    if retries is not None and isinstance(constant(retries), int) and constant(retries):
        return f"the task retries (retries={ast.unparse(retries)})"
    return None


def retried_error_libraries(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> frozenset[str] | None:
    """The third-party libraries whose own errors are the only ones Celery's ``autoretry_for=``
    retries (``(SendGridException,)`` -> ``{"sendgrid"}``); None when any step may raise a
    retried error: a built-in, database or network error type, the project's own or an
    unresolved one, a computed list, or a worker that retries every failure (Dramatiq, Huey)."""
    decorator = task_decorator(node, ctx)
    autoretry = (
        keyword_value(decorator, "autoretry_for") if isinstance(decorator, ast.Call) else None
    )
    if not isinstance(autoretry, ast.Tuple | ast.List) or not autoretry.elts:
        return None
    # The project's own top-level package (``shop/`` or ``src/shop/``); a sub-package that shares
    # a library's name (``shop/plugins/sendgrid/``) does not make the library the project's.
    parts = ctx.path.replace("\\", "/").split("/")[:-1]
    project = set(parts[:2] if parts[:1] == ["src"] else parts[:1])
    roots: set[str] = set()
    for element in autoretry.elts:
        name = ctx.qualname(element) or ""
        root = name.split(".", 1)[0]
        if "." not in name or not root or root in _SHARED_ERROR_ROOTS or root in project:
            return None  # relative imports start with "." and leave the root empty
        roots.add(root)
    return frozenset(roots)


# Payment and billing SDKs whose module-level resources write at the provider.
_PROVIDER_SDKS = ("stripe.", "braintree.", "paypalrestsdk.", "adyen.", "razorpay.", "mollie.")
_PROVIDER_WRITES = frozenset(
    {"create", "sale", "capture", "refund", "charge", "pay", "transfer", "send_invoice"}
    | {"finalize_invoice", "submit_for_settlement", "create_payment"}
)


def outward_call(call: ast.Call, ctx: PythonContext) -> str | None:
    """A call with an effect outside the service that a re-run repeats: an HTTP write, a mail,
    or a callee named for sending/charging/publishing; its name, else None."""
    name = ctx.qualname(call.func) or dotted(call.func) or ""
    last = name.rsplit(".", 1)[-1]
    if name.startswith(_HTTP_CLIENTS) and last in _HTTP_WRITES:
        return name
    if isinstance(call.func, ast.Attribute) and last in _HTTP_WRITES:
        receiver = (dotted(call.func.value) or "").lower()
        if any(word in receiver for word in ("client", "session", "http", "api")):
            return name
    if name.startswith(_MAILERS):
        return name
    if name.startswith(_PROVIDER_SDKS) and last in _PROVIDER_WRITES:
        # stripe.Customer.create(...): a record made at the provider, made again by a re-run
        # unless the provider is given a key to deduplicate on
        return None if any(k.arg == "idempotency_key" for k in call.keywords) else name
    if _OUTWARD.match(last) and not name.startswith(("builtins.", "logging.")):
        return name
    return None


def _failable_step(
    statements: list[ast.stmt], ctx: PythonContext, retried: frozenset[str] | None
) -> ast.Call | None:
    """The first call after the effect whose failure makes the worker retry the task: any call
    that is not pure computation, or -- when only some libraries' errors are retried -- a call
    into one of them or another outward call (which may go through it)."""
    for call in calls_in(statements):
        if log_call(call, ctx) is not None:
            continue
        name = ctx.qualname(call.func) or dotted(call.func) or ""
        if name.startswith(_PURE_MODULES) or name.rsplit(".", 1)[-1] in _PURE_METHODS:
            continue
        if (
            retried is not None
            and name.split(".", 1)[0] not in retried
            and outward_call(call, ctx) is None
        ):
            continue  # it fails with another error type: the task fails without a retry
        return call
    return None


def _guarded(before: list[ast.stmt]) -> bool:
    """An ``if`` before the side effect that returns or raises: a status or dedup check."""
    return any(
        isinstance(node, ast.If)
        and any(isinstance(inner, ast.Return | ast.Raise) for inner in walk_body(node.body))
        for node in walk_body(before)
    )


def repeated_side_effect(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> tuple[ast.Call, str, ast.Call] | None:
    """(the side effect, its name, the failable step after it) of a task body, or None."""
    if re.search(r"idempot|dedup", ctx.segment(node), re.IGNORECASE):
        return None
    body = node.body
    for index, statement in enumerate(body):
        for call in calls_in([statement]):
            name = outward_call(call, ctx)
            if name is None:
                continue
            if _guarded(body[:index]):
                return None
            later = _failable_step(body[index + 1 :], ctx, retried_error_libraries(node, ctx))
            if later is None:
                return None
            return call, name, later
    return None
