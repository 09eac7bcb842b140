"""Security: personal and payment data written to logs (SEC042)."""

from __future__ import annotations

import ast
import itertools
import re

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
    | {"diagnosis", "msisdn", "telephone", "mobile", "biometric", "biometrics", "fingerprint"}
)
# Pairs of words that do (``delivery_address``, ``card_number``, ``customer_name``).
_PERSONAL_PAIRS = frozenset(
    {("card", "number"), ("credit", "card"), ("card", "holder"), ("cardholder", "name")}
    | {("delivery", "address"), ("home", "address"), ("street", "address")}
    | {("billing", "address"), ("shipping", "address"), ("postal", "address")}
    | {("customer", "name"), ("full", "name"), ("first", "name"), ("last", "name")}
    | {("patient", "name"), ("date", "birth"), ("social", "security"), ("national", "id")}
    | {("tax", "id"), ("insurance", "number"), ("account", "number"), ("medical", "notes")}
    | {("medical", "record"), ("card", "exp"), ("card", "expiry"), ("driver", "license")}
    | {("licence", "number"), ("license", "number"), ("face", "template")}
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
# Words that make the datum a group's or the service's own, not a person's (``support_email``,
# ``incident.response_team.email``, ``sender_address``).
_NOT_A_PERSON_WORDS = frozenset(
    {"group", "groups", "team", "teams", "channel", "distribution", "mailing", "alias"}
    | {"org", "organization", "organisation", "company", "tenant", "support", "sender", "from"}
    | {"noreply", "shared", "service", "system", "helpdesk"}
)
_DEBUG_LEVELS = frozenset({"logging.DEBUG", "DEBUG", "10"})
_BODY_ATTRIBUTES = frozenset({"body", "data", "json", "POST", "form"})
_BODY_METHODS = frozenset({"json", "get_json", "body", "post", "get_data"})
_PARSERS = frozenset({"json.loads", "orjson.loads", "ujson.loads"})


def _personal_kind(name: str | None) -> str | None:
    """``"email"`` for a name that shows only an e-mail address, ``"other"`` for any other
    personal or payment datum, None for a name that shows none."""
    words = name_words(name or "")
    if not words or _DERIVED_WORDS.intersection(words) or _NOT_A_PERSON_WORDS.intersection(words):
        return None
    present = set(words)
    if (present & _PERSONAL_WORDS) - {"email"} or _adjacent_pair(words):
        return "other"
    return "email" if "email" in present else None


# Words that join the two words of a pair without changing what it names (``date_of_birth``).
_CONNECTORS = frozenset({"of", "the", "and"})


def _adjacent_pair(words: list[str]) -> bool:
    """Two words of a pair side by side, in either order, past connectors (``full_name``,
    ``date_of_birth``, ``name_of_customer``). Apart, another word says whose they are:
    ``full_table_name`` is a table's, ``last_job_name`` a job's."""
    kept = [word for word in words if word not in _CONNECTORS]
    return any(
        (first, second) in _PERSONAL_PAIRS or (second, first) in _PERSONAL_PAIRS
        for first, second in itertools.pairwise(kept)
    )


def _owned_by_a_group(expr: ast.expr) -> bool:
    """``incident.tactical_group.email``, ``team["phone"]``: the datum of a group or of the
    service itself, not of a person."""
    owner = expr.value if isinstance(expr, ast.Attribute | ast.Subscript) else None
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        owner = expr.func.value
    last = (dotted(owner) or "").rsplit(".", 1)[-1] if owner is not None else ""
    return bool(_NOT_A_PERSON_WORDS.intersection(name_words(last)))


def _debug_level(node: ast.Call, method: str, ctx: PythonContext) -> bool:
    """``logger.debug(...)`` or ``logger.log(logging.DEBUG, ...)``."""
    if method == "debug":
        return True
    if method != "log" or not node.args:
        return False
    level = node.args[0]
    text = ctx.qualname(level) if isinstance(level, ast.Name | ast.Attribute) else None
    return (text or ast.unparse(level)) in _DEBUG_LEVELS


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


_RAW_BODY_ANNOTATION = re.compile(r"(?:typing\.)?(?:dict|Dict|Mapping|Any)\b(?:\[.*\])?")


def _raw_body_parameter(name: str, ctx: PythonContext) -> bool:
    """A FastAPI route parameter annotated ``dict``/``Dict[str, Any]``/``Any``: FastAPI fills
    it with the whole posted JSON body, whatever fields the client put in it."""
    scope = ctx.function
    route = scope.route if scope is not None else None
    if scope is None or route is None or route.framework != "fastapi":
        return False
    for arg in [*scope.node.args.args, *scope.node.args.kwonlyargs]:
        if arg.arg == name and arg.annotation is not None:
            return _RAW_BODY_ANNOTATION.fullmatch(ctx.segment(arg.annotation)) is not None
    return False


def _personal_value(expr: ast.expr, ctx: PythonContext) -> tuple[str, str] | None:
    """(what personal data a logged value shows, its kind: ``"email"`` or ``"other"``), or
    None."""
    if isinstance(expr, ast.FormattedValue):
        return _personal_value(expr.value, ctx)
    name: str | None = None
    if isinstance(expr, ast.Name):
        name = expr.id
        if ctx.route is not None and _request_body(ctx.value_of(expr.id), ctx):
            return f"the whole request body `{expr.id}` (names, emails, card details)", "other"
        if _raw_body_parameter(expr.id, ctx):
            return f"the whole posted JSON body `{expr.id}` (names, emails, card details)", "other"
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
        return f"the whole request body `{ctx.segment(expr)}`", "other"
    kind = _personal_kind(name)
    if kind is None or _owned_by_a_group(expr):
        return None
    return f"`{' '.join(ctx.segment(expr).split())[:60]}`", kind


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
    Derived values (`email_verified`, `phone_count`, `card_last4`) and the data of a group or
    of the service itself (`support_email`, `incident.response_team.email`) are fine.

    Evidence tiers: an address, phone number, birth date, card or account number, government
    id, a person's name or a whole request body is reported at medium. An e-mail address alone
    is reported at low with low confidence -- it is personal data, but also how most systems
    identify a user, and a reviewer rarely acts on it -- and so is anything logged at debug
    level, which is usually off in production. The message says which.

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
    method = log_call(node, ctx)
    if ctx.facts.is_test or ctx.facts.is_example or method is None:
        return
    values = _logged_values(node, ctx, is_print=False)
    if any(_secret_reference(value, ctx) is not None for value in values):
        return  # the call also leaks a credential: SEC018 reports it, one finding per call
    found = [
        (value, personal)
        for value in values
        if not isinstance(value, ast.Constant)
        for personal in [_personal_value(value, ctx)]
        if personal is not None
    ]
    if not found:
        return
    # The strongest evidence in the call: any datum beyond an e-mail address comes first.
    value, (what, kind) = next(((v, p) for v, p in found if p[1] == "other"), found[0])
    debug = _debug_level(node, method, ctx)
    leak = f"this {'debug ' if debug else ''}log call writes {what} to the logs: "
    if kind == "email" and not debug:
        leak = f"this log call writes the e-mail address {what} to the logs: "
    tiers: list[str] = []
    if kind == "email":
        tiers.append(
            "an e-mail address alone is also how most systems identify a user, and the call "
            "logs no address, phone, card or id number"
        )
    if debug:
        tiers.append("debug logs are usually off in production")
    tier = (
        f" Reported at low severity: {' and '.join(tiers)}; still, log a user id instead"
        if tiers
        else " Log an identifier instead"
    )
    # On the value itself: in a call spread over lines, that is the line that leaks.
    ctx.report(
        value,
        leak + "personal data there is kept for months, shipped to other services and read by "
        "people who should not see it." + tier,
        severity=Severity.LOW if tiers else None,
        confidence=Confidence.LOW if tiers else None,
    )
