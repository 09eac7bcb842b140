"""Concurrency: side effects without an idempotency key (CON003)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    has_keyword,
    has_star_kwargs,
    in_task,
    keyword_value,
    string_fragments,
)

# -- CON003 ---------------------------------------------------------------------------------------

_STRIPE_CALLS = frozenset(
    {"stripe.Charge.create", "stripe.PaymentIntent.create", "stripe.PaymentIntent.confirm"}
    | {"stripe.PaymentIntent.capture", "stripe.Refund.create", "stripe.Transfer.create"}
    | {"stripe.Payout.create", "stripe.Invoice.pay", "stripe.Subscription.create"}
)
_STRIPE_CLIENT_CALLS = frozenset(
    {"payment_intents.create", "payment_intents.confirm", "payment_intents.capture"}
    | {"charges.create", "refunds.create", "transfers.create", "payouts.create"}
    | {"invoices.pay", "subscriptions.create"}
)
_ADYEN_CALLS = frozenset(
    {"payments", "refund_captured_payment", "capture_authorised_payment", "payouts"}
)
_PAYMENT_PATHS = (
    "/charges",
    "/payments",
    "/payouts",
    "/transfers",
    "/refunds",
    "/payment_intents",
    "/captures",
)
_HTTP_POSTS = frozenset(
    {"requests.post", "requests.Session.post", "requests.sessions.Session.post"}
    | {"httpx.post", "httpx.Client.post", "httpx.AsyncClient.post"}
)


def _payment_call(name: str, node: ast.Call, ctx: PythonContext) -> str | None:
    """What kind of money-moving call this is: "stripe", "braintree", "adyen", "paypal",
    "http" (a POST to a payment API path), or None."""
    if name in _STRIPE_CALLS:
        return "stripe"
    if name.startswith("stripe.StripeClient."):
        tail = ".".join(name.split(".")[-2:])
        return "stripe" if tail in _STRIPE_CLIENT_CALLS else None
    if name.startswith("braintree.") and name.endswith("ransaction.sale"):
        return "braintree"
    if name.startswith(("Adyen.", "adyen.")) and name.rsplit(".", 1)[-1] in _ADYEN_CALLS:
        return "adyen"
    if name in {"paypalrestsdk.Payment.create", "paypalrestsdk.Payout.create"}:
        return "paypal"
    if name in _HTTP_POSTS and node.args:
        url = " ".join(string_fragments(node.args[0], ctx)).lower()
        if any(path in url for path in _PAYMENT_PATHS):
            return "http"
    return None


def _mentions_idempotency(ctx: PythonContext) -> bool:
    """The function reads an Idempotency-Key header, passes a key, or dedupes explicitly."""
    cache: dict[str, bool] = ctx.rule_state(dict)
    if "idempotency" not in cache:
        assert ctx.function is not None
        text = ctx.segment(ctx.function.node).lower()
        cache["idempotency"] = "idempoten" in text or "paypal-request-id" in text
    return cache["idempotency"]


@python_rule(
    code="CON003",
    name="side-effect-without-idempotency-key",
    category=Category.CONCURRENCY,
    severity=Severity.HIGH,
    summary="Payment call in a retried request/task without an idempotency key",
    calls=(
        *_STRIPE_CALLS,
        "stripe.StripeClient.*",
        "braintree.*",
        "Adyen.*",
        "adyen.*",
        "paypalrestsdk.Payment.create",
        "paypalrestsdk.Payout.create",
        *_HTTP_POSTS,
    ),
    fix="Accept an Idempotency-Key header (or derive a key from the order id) and pass it "
    "to the provider: stripe.PaymentIntent.create(..., idempotency_key=key).",
)
def side_effect_without_idempotency_key(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags calls that move money -- `stripe.Charge.create`, `stripe.PaymentIntent.create`,
    `stripe.Refund.create`, `stripe.Transfer.create`, `stripe.Payout.create` (and their
    `StripeClient` forms), Braintree `Transaction.sale`, Adyen payments, PayPal
    `Payment.create`, or an HTTP POST to a `/charges`, `/payments`, `/refunds`, `/payouts`,
    `/transfers` URL -- inside a state-changing HTTP handler or a background task, when no
    idempotency key is passed and the handler never reads an `Idempotency-Key` header.

    ## Why it breaks production
    Requests are retried: by the client after a timeout, by a proxy or load balancer after a
    502, by the user double-clicking "Pay", by the queue redelivering a task whose worker died.
    If the first attempt reached the provider but the response was lost, the retry charges the
    card a second time. The provider can deduplicate -- but only if every attempt carries the
    same idempotency key.

    ## Example
    ```python
    @app.post("/orders/{order_id}/pay")
    def pay(order_id: int):
        order = load_order(order_id)
        intent = stripe.PaymentIntent.create(amount=order.total_cents, currency="eur",
                                             customer=order.customer_ref, confirm=True)
        return {"status": intent.status}
    ```

    ## Use instead
    ```python
    @app.post("/orders/{order_id}/pay")
    def pay(order_id: int, idempotency_key: str = Header(...)):
        order = load_order(order_id)
        intent = stripe.PaymentIntent.create(amount=order.total_cents, currency="eur",
                                             customer=order.customer_ref, confirm=True,
                                             idempotency_key=f"pay-{order.id}-{idempotency_key}")
        return {"status": intent.status}
    ```
    """
    if ctx.function is None or ctx.facts.is_test:
        return
    route = ctx.route
    if route is not None:
        if not route.writes:
            return
    elif not in_task(ctx):
        return
    name = ctx.call_name or ""
    kind = _payment_call(name, node, ctx)
    if kind is None or has_star_kwargs(node):
        return
    if has_keyword(node, "idempotency_key", "idempotencyKey"):
        return
    options = keyword_value(node, "options") or keyword_value(node, "headers")
    if options is not None and "idempoten" in ctx.segment(options).lower():
        return
    if _mentions_idempotency(ctx):
        return
    where = "request handler" if route is not None else "task"
    retried = (
        "a retried request (client timeout, proxy retry, double click)"
        if route is not None
        else "a redelivered or retried task"
    )
    severity = Severity.CRITICAL if ctx.profile.handles_payments else None
    if kind == "http":
        message = (
            f"{name}() to a payment API in a {where} sends no Idempotency-Key header: "
            f"{retried} moves the money twice. Send a key that is stable across retries"
        )
    elif kind == "braintree":
        message = (
            f"{name}() in a {where} has no deduplication: {retried} charges twice. Braintree "
            "takes no idempotency key: record the transaction per order (or per client "
            "Idempotency-Key) and check it before calling sale()"
        )
    else:
        message = (
            f"{name}() in a {where} has no idempotency key: {retried} charges twice. Pass "
            "an idempotency key derived from the client's Idempotency-Key header or the order id"
        )
    ctx.report(node, message, severity=severity)
