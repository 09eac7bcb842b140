"""Resilience: retries that also retry failures no retry can fix (RES017).

``raise_for_status()`` raises ``requests.HTTPError``/``httpx.HTTPStatusError`` for a 4xx as well
as a 5xx, and both are ``RequestException``/``HTTPError`` subclasses; Stripe's ``CardError`` (a
decline) is a ``StripeError``. A retry that catches those broadly -- a hand-written loop, Celery's
``autoretry_for``, tenacity's default of retrying every exception -- resends a request the other
side has already refused for good.
"""

from __future__ import annotations

import ast

from prodready.plugin import ModuleMemo, PythonContext
from prodready.plugin.analysis import caught_names, dotted, keyword_value, walk_body

_TRANSPORT_ERRORS = frozenset(
    {"RequestException", "HTTPError", "HTTPStatusError", "StripeError", "APIError"}
    | {"ClientError", "ClientResponseError", "Exception", "BaseException"}
)
_STATUS_READS = frozenset({"status_code", "status", "http_status", "code", "is_client_error"})
_NARROW_PERMANENT = ("HTTPError", "HTTPStatusError", "CardError", "InvalidRequest", "ClientError")


# Both sources need their word in the module's text (``.raise_for_status``, a name imported
# from ``stripe``): most modules have neither, and their functions need no walk (with a
# qualified name per call) -- RES017 asks for every function and loop.
_MAY_FAIL_FOR_GOOD: ModuleMemo[bool] = ModuleMemo(
    "RES017:permanent-words",
    lambda ctx: "raise_for_status" in ctx.source or "stripe" in ctx.source,
)


def permanent_failure_source(statements: list[ast.stmt], ctx: PythonContext) -> str | None:
    """What in the retried code raises for a request the other side refused for good."""
    if not ctx.memo(_MAY_FAIL_FOR_GOOD):
        return None
    for node in walk_body(statements):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr == "raise_for_status":
            return "raise_for_status() (4xx as well as 5xx)"
        name = ctx.qualname(node.func) or ""
        if name.startswith("stripe.") and name.rsplit(".", 1)[-1] in {"create", "confirm"}:
            return f"{name}() (a card decline is a StripeError too)"
    return None


def _broad_names(names: list[str]) -> list[str]:
    return [name for name in names if name.rsplit(".", 1)[-1] in _TRANSPORT_ERRORS]


def inspects_status(handler: ast.ExceptHandler) -> bool:
    """The handler looks at what failed (a status code, the exception's type)."""
    for node in walk_body(handler.body):
        if isinstance(node, ast.Attribute) and node.attr in _STATUS_READS:
            return True
        if isinstance(node, ast.Call) and dotted(node.func) == "isinstance":
            return True
    return False


def retried_broadly(
    attempt: ast.Try, handlers: tuple[ast.ExceptHandler, ...], ctx: PythonContext
) -> tuple[ast.ExceptHandler, str] | None:
    """The retrying handler of a loop that also catches permanent failures, with what it
    catches; None when a narrower handler or a status check sorts them out first."""
    for other in attempt.handlers:
        if other in handlers:
            break
        if any(part in name for name in caught_names(other, ctx) for part in _NARROW_PERMANENT):
            return None
    for handler in handlers:
        names = caught_names(handler, ctx) if handler.type is not None else ["Exception"]
        broad = _broad_names(names)
        if broad and not inspects_status(handler):
            return handler, broad[0].rsplit(".", 1)[-1]
    return None


def autoretry_catches_all(decorator: ast.expr | None) -> str | None:
    """Celery ``autoretry_for=(Exception,)`` / ``(requests.RequestException,)``."""
    if not isinstance(decorator, ast.Call):
        return None
    value = keyword_value(decorator, "autoretry_for")
    if value is None:
        return None
    elements = value.elts if isinstance(value, ast.Tuple | ast.List) else [value]
    for element in elements:
        name = (dotted(element) or "").rsplit(".", 1)[-1]
        if name in _TRANSPORT_ERRORS:
            return f"autoretry_for={ast.unparse(value)}"
    return None


def tenacity_retries_everything(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> ast.Call | None:
    """A tenacity ``@retry(...)`` without ``retry=``: tenacity then retries every exception."""
    for decorator in node.decorator_list:
        if not isinstance(decorator, ast.Call):
            continue
        if ctx.qualname(decorator.func) != "tenacity.retry":
            continue
        if keyword_value(decorator, "retry") is None and not decorator.args:
            return decorator
    return None


def self_retry_handlers(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> list[tuple[ast.Try, ast.ExceptHandler, str]]:
    """Handlers of a bound Celery task that call ``self.retry(...)`` for every transport error
    (or every exception) raised around a permanent-failure source, without a status check."""
    found: list[tuple[ast.Try, ast.ExceptHandler, str]] = []
    for attempt in walk_body(node.body):
        if not isinstance(attempt, ast.Try) or permanent_failure_source(attempt.body, ctx) is None:
            continue
        for handler in attempt.handlers:
            names = caught_names(handler, ctx) if handler.type is not None else ["Exception"]
            broad = _broad_names(names)
            if not broad or inspects_status(handler):
                continue
            if any(
                isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Attribute)
                and inner.func.attr == "retry"
                and dotted(inner.func.value) == "self"
                for inner in walk_body(handler.body)
            ):
                found.append((attempt, handler, broad[0].rsplit(".", 1)[-1]))
                break
    return found
