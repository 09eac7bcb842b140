import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Literal

import httpx
import psycopg
import stripe
from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from psycopg_pool import ConnectionPool, PoolTimeout
from pydantic import BaseModel, ConfigDict, Field

from app.auth import Principal, authenticate
from app.db import create_pool
from app.fraud import FraudClient
from app.logging_setup import configure_logging
from app.settings import get_settings

logger = logging.getLogger("payments")

IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=16, max_length=128)]
PaymentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^pi_[A-Za-z0-9]+$")]
CurrentUser = Annotated[Principal, Depends(authenticate)]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    configure_logging(settings.log_level)
    pool = create_pool(settings)
    pool.open(wait=True, timeout=10)
    fraud = FraudClient(str(settings.fraud_service_url), settings.fraud_timeout_seconds)
    app.state.settings = settings
    app.state.pool = pool
    app.state.fraud = fraud
    app.state.stripe = stripe.StripeClient(
        settings.stripe_api_key.get_secret_value(),
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=settings.stripe_timeout_seconds),
    )
    try:
        yield
    finally:
        fraud.close()
        pool.close()


app = FastAPI(title="Payments API", version="1.0.0", lifespan=lifespan)


class PaymentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=64)
    amount: int = Field(gt=0, le=1_000_000, description="amount in minor units")
    currency: Literal["usd", "eur", "gbp"] = "usd"
    payment_method: str = Field(min_length=1, max_length=255)


class Payment(BaseModel):
    id: str
    amount: int
    currency: str
    status: str


class PaymentPage(BaseModel):
    payments: list[Payment]
    next_before: datetime | None


def _pool(request: Request) -> ConnectionPool:
    return request.app.state.pool


@app.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/readyz", include_in_schema=False)
def readyz(request: Request) -> dict[str, str]:
    try:
        with _pool(request).connection(timeout=1) as conn:
            conn.execute("SELECT 1")
    except (psycopg.Error, PoolTimeout):
        logger.warning("readiness check failed", exc_info=True)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "database unavailable") from None
    return {"status": "ready"}


@app.post("/v1/payments", status_code=status.HTTP_201_CREATED, response_model=Payment)
def create_payment(
    body: PaymentRequest, request: Request, user: CurrentUser, idempotency_key: IdempotencyKey
) -> Payment:
    state = request.app.state
    try:
        score = state.fraud.score(body.customer_id, body.amount)
    except httpx.HTTPError:
        logger.exception("fraud check unavailable", extra={"customer_id": body.customer_id})
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "fraud check unavailable") from None
    if score > state.settings.fraud_threshold:
        logger.info("payment declined by fraud check", extra={"customer_id": body.customer_id})
        raise HTTPException(status.HTTP_402_PAYMENT_REQUIRED, "payment declined")

    try:
        # The same Idempotency-Key from the client (and Stripe's own retries) never charges twice.
        intent = state.stripe.payment_intents.create(
            params={
                "amount": body.amount,
                "currency": body.currency,
                "customer": body.customer_id,
                "payment_method": body.payment_method,
                "confirm": True,
                "metadata": {"user_id": user.subject},
            },
            options={"idempotency_key": f"payment:{user.subject}:{idempotency_key}"},
        )
    except stripe.CardError as exc:
        raise HTTPException(status.HTTP_402_PAYMENT_REQUIRED, exc.user_message or "declined") from exc
    except stripe.StripeError:
        logger.exception("payment provider error", extra={"customer_id": body.customer_id})
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, "payment provider error") from None

    with _pool(request).connection() as conn:
        conn.execute(
            "INSERT INTO payments"
            " (id, user_id, customer_id, amount, currency, status, idempotency_key)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (
                intent.id,
                user.subject,
                body.customer_id,
                body.amount,
                body.currency,
                intent.status,
                idempotency_key,
            ),
        )
    logger.info("payment created", extra={"payment_id": intent.id, "status": intent.status})
    return Payment(id=intent.id, amount=body.amount, currency=body.currency, status=intent.status)


@app.get("/v1/payments/{payment_id}", response_model=Payment)
def get_payment(payment_id: PaymentId, request: Request, user: CurrentUser) -> Payment:
    with _pool(request).connection() as conn:
        row = conn.execute(
            "SELECT id, amount, currency, status FROM payments WHERE id = %s AND user_id = %s",
            (payment_id, user.subject),
        ).fetchone()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "payment not found")
    return Payment(**row)


@app.get("/v1/customers/{customer_id}/payments", response_model=PaymentPage)
def list_customer_payments(
    customer_id: Annotated[str, Path(min_length=1, max_length=64)],
    request: Request,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: datetime | None = None,
) -> PaymentPage:
    with _pool(request).connection() as conn:
        rows = conn.execute(
            "SELECT id, amount, currency, status, created_at FROM payments"
            " WHERE customer_id = %s AND user_id = %s"
            " AND (%s::timestamptz IS NULL OR created_at < %s)"
            " ORDER BY created_at DESC LIMIT %s",
            (customer_id, user.subject, before, before, limit),
        ).fetchall()
    next_before = rows[-1]["created_at"] if len(rows) == limit else None
    return PaymentPage(
        payments=[Payment(**{k: v for k, v in r.items() if k != "created_at"}) for r in rows],
        next_before=next_before,
    )


@app.post("/v1/payments/{payment_id}/refunds", status_code=status.HTTP_201_CREATED)
def refund(
    payment_id: PaymentId, request: Request, user: CurrentUser, idempotency_key: IdempotencyKey
) -> dict[str, str]:
    with _pool(request).connection() as conn:
        owned = conn.execute(
            "SELECT 1 FROM payments WHERE id = %s AND user_id = %s", (payment_id, user.subject)
        ).fetchone()
    if owned is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "payment not found")
    try:
        result = request.app.state.stripe.refunds.create(
            params={"payment_intent": payment_id},
            options={"idempotency_key": f"refund:{payment_id}:{idempotency_key}"},
        )
    except stripe.InvalidRequestError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, exc.user_message or "not refundable") from exc
    except stripe.StripeError:
        logger.exception("refund failed", extra={"payment_id": payment_id})
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, "payment provider error") from None
    logger.info("refund created", extra={"payment_id": payment_id, "refund_id": result.id})
    return {"refund_id": result.id, "status": result.status}


def _mark_refunded(pool: ConnectionPool, payment_intent_id: str) -> None:
    with pool.connection() as conn:
        conn.execute(
            "UPDATE payments SET status = 'refunded' WHERE id = %s", (payment_intent_id,)
        )


@app.post("/v1/webhooks/stripe")
async def stripe_webhook(
    request: Request, stripe_signature: Annotated[str, Header(alias="Stripe-Signature")]
) -> dict[str, bool]:
    payload = await request.body()
    secret = request.app.state.settings.stripe_webhook_secret.get_secret_value()
    try:
        event = stripe.Webhook.construct_event(payload, stripe_signature, secret)
    except (ValueError, stripe.SignatureVerificationError):
        logger.warning("webhook rejected: invalid payload or signature")
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "invalid signature") from None

    if event["type"] == "charge.refunded":
        # A failure here propagates as a 500, so Stripe redelivers the event; the update is
        # idempotent.
        await run_in_threadpool(
            _mark_refunded, _pool(request), event["data"]["object"]["payment_intent"]
        )
    return {"received": True}
