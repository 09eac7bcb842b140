"""Security: personal and payment data written to logs (SEC042)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import constant_str, dotted, log_call, name_words
from prodready.rules.security.logged_secrets import (
    _LOG_METHOD_CALLS,
    _logged_values,
    _secret_reference,
)

# -- SEC042 ------------------------------------------------------------------------------------

# Words that alone name personal or payment data in a variable, attribute or field name.
_PERSONAL_WORDS = frozenset(
    {"email", "phone", "ssn", "iban", "passport", "birthdate", "birthday", "dob", "cvv", "cvc"}
    | {"diagnosis", "msisdn", "telephone", "mobile"}
)
# Pairs of words that do (``delivery_address``, ``card_number``, ``customer_name``).
_PERSONAL_PAIRS = frozenset(
    {("card", "number"), ("credit", "card"), ("card", "holder"), ("cardholder", "name")}
    | {("delivery", "address"), ("home", "address"), ("street", "address")}
    | {("billing", "address"), ("shipping", "address"), ("postal", "address")}
    | {("customer", "name"), ("full", "name"), ("first", "name"), ("last", "name")}
    | {("patient", "name"), ("date", "birth"), ("social", "security"), ("national", "id")}
    | {("tax", "id"), ("insurance", "number"), ("account", "number"), ("medical", "notes")}
    | {("medical", "record"), ("card", "exp"), ("card", "expiry")}
)
# Words that make the name about the datum, not the datum itself (``email_template``,
# ``phone_verified``, ``card_number_last4``, ``email_count``).
_DERIVED_WORDS = frozenset(
    {"template", "subject", "verified", "count", "enabled", "domain", "backend", "host", "port"}
    | {"field", "fields", "column", "format", "regex", "pattern", "sent", "status", "type"}
    | {"valid", "validator", "is", "has", "mask", "masked", "hash", "hashed", "last4", "len"}
    | {"length", "id", "ids", "key", "setting", "settings", "config", "label", "provider"}
    | {"changed", "confirmed", "required", "allowed", "url", "link", "error", "errors"}
)
_BODY_ATTRIBUTES = frozenset({"body", "data", "json", "POST", "form"})
_BODY_METHODS = frozenset({"json", "get_json", "body", "post", "get_data"})
_PARSERS = frozenset({"json.loads", "orjson.loads", "ujson.loads"})


def _personal_name(name: str | None) -> bool:
    words = name_words(name or "")
    if not words or _DERIVED_WORDS.intersection(words):
        return False
    if _PERSONAL_WORDS.intersection(words):
        return True
    present = set(words)
    return any(first in present and second in present for first, second in _PERSONAL_PAIRS)


def _request_body(expr: ast.AST | None, ctx: PythonContext) -> bool:
    """``await request.json()``, ``request.get_json()``, ``json.loads(request.body)``,
    ``request.data`` -- the whole body the client posted."""
    if isinstance(expr, ast.Await):
        expr = expr.value
    if isinstance(expr, ast.Call) and (ctx.qualname(expr.func) or "") in _PARSERS and expr.args:
        return _request_body(expr.args[0], ctx)
    if isinstance(expr, ast.Attribute):
        owner, attr, names = expr.value, expr.attr, _BODY_ATTRIBUTES
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        owner, attr, names = expr.func.value, expr.func.attr, _BODY_METHODS
    else:
        return False
    if attr not in names:
        return False
    return dotted(owner) in {"request", "req"} or ctx.qualname(owner) in {
        "flask.request",
        "quart.request",
    }


def _personal_value(expr: ast.expr, ctx: PythonContext) -> str | None:
    """What personal data a logged value shows, or None."""
    if isinstance(expr, ast.FormattedValue):
        return _personal_value(expr.value, ctx)
    name: str | None = None
    if isinstance(expr, ast.Name):
        name = expr.id
        if ctx.route is not None and _request_body(ctx.value_of(expr.id), ctx):
            return f"the whole request body `{expr.id}` (names, emails, card details)"
    elif isinstance(expr, ast.Attribute):
        name = expr.attr
    elif isinstance(expr, ast.Subscript) and not isinstance(expr.slice, ast.Slice):
        name = constant_str(expr.slice)
    elif (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.args
        and expr.func.attr in {"get", "pop"}
    ):
        name = constant_str(expr.args[0])
    if ctx.route is not None and _request_body(expr, ctx):
        return f"the whole request body `{ctx.segment(expr)}`"
    if _personal_name(name):
        return f"`{' '.join(ctx.segment(expr).split())[:60]}`"
    return None


@python_rule(
    code="SEC042",
    name="personal-data-in-log-message",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Email, phone, address, card or other personal data written to the logs",
    calls=_LOG_METHOD_CALLS,
    cwe=532,
    fix="Log an identifier (customer id, order id) instead of the person's data.",
)
def personal_data_in_log_message(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags logging calls whose message includes personal or payment data: values named like an
    email, phone number, delivery/billing address, customer or patient name, date of birth,
    card number or expiry, IBAN, passport or national id (`event["customer_name"]`,
    `user.email`, `payload.get("delivery_address")`), and, in a request handler, the whole
    request body (`logger.info("webhook: %s", await request.json())` or a name bound to it).
    Derived values (`email_verified`, `phone_count`, `card_last4`) are fine.

    ## Why it breaks production
    Logs are shipped to aggregators and vendors, kept for months and read by far more people
    than the data's owners; they are rarely covered by deletion requests. Personal data there
    is a GDPR/CCPA breach waiting for an audit, and card data in a log takes the whole log
    pipeline into PCI DSS scope.

    ## Example
    ```python
    logger.info("shipping to %s, %s", order.customer_name, order.delivery_address)
    ```

    ## Use instead
    ```python
    logger.info("shipping order %s", order.id)
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example or log_call(node, ctx) is None:
        return
    values = _logged_values(node, ctx, is_print=False)
    if any(_secret_reference(value, ctx) is not None for value in values):
        return  # the call also leaks a credential: SEC018 reports it, one finding per call
    for value in values:
        if isinstance(value, ast.Constant):
            continue
        what = _personal_value(value, ctx)
        if what is None:
            continue
        # On the value itself: in a call spread over lines, that is the line that leaks.
        ctx.report(
            value,
            f"this log call writes {what} to the logs: personal data there is kept for months, "
            "shipped to other services and read by people who should not see it. Log an "
            "identifier instead",
        )
        return
