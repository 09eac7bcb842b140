import hashlib
import hmac
import logging
import sys
from datetime import timedelta
from functools import wraps

import stripe
from flask import Flask, abort, jsonify, make_response, request
from pydantic import BaseModel, EmailStr, Field, ValidationError
from pythonjsonlogger import jsonlogger
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from jobs import charge_invoice, q, redis_conn, run_dunning
from models import (
    Coupon, Customer, Invoice, Plan, ProcessedEvent, Subscription, db_session, settings, utcnow,
)

handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(jsonlogger.JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
logging.basicConfig(level=logging.INFO, handlers=[handler])
logger = logging.getLogger("billing")

app = Flask(__name__)
app.config.update(SECRET_KEY=settings.customer_token_secret, MAX_CONTENT_LENGTH=64 * 1024)


class CustomerIn(BaseModel):
    email: EmailStr
    name: str | None = Field(default=None, max_length=120)


class SubscribeIn(BaseModel):
    customer_id: int = Field(gt=0)
    plan_id: int = Field(gt=0)
    payment_method: str = Field(pattern=r"^pm_[A-Za-z0-9]{8,60}$")
    coupon: str | None = Field(default=None, max_length=32)


class RefundIn(BaseModel):
    payment_intent: str = Field(pattern=r"^pi_[A-Za-z0-9]{8,60}$")
    amount: int | None = Field(default=None, gt=0, le=1_000_000)
    reason: str = Field(min_length=3, max_length=200)


def fail(status: int, **payload):
    abort(make_response(jsonify(payload), status))


def parse(model):
    try:
        return model.model_validate(request.get_json(force=False, silent=False))
    except ValidationError as exc:
        fail(422, error="invalid request", details=exc.errors(include_url=False, include_input=False))


def idempotency_key() -> str:
    key = request.headers.get("Idempotency-Key", "")
    if not 8 <= len(key) <= 100:
        fail(400, error="Idempotency-Key header (8-100 chars) is required")
    return key


def require_admin(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(supplied.encode(), settings.admin_token.encode()):
            abort(403)
        return view(*args, **kwargs)
    return wrapper


def require_customer(customer_id: int) -> None:
    expected = hmac.new(settings.customer_token_secret.encode(), str(customer_id).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get("X-Customer-Token", ""), expected):
        abort(403)


@app.teardown_appcontext
def shutdown_session(exception=None):
    if exception is not None:
        db_session.rollback()
    db_session.remove()


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.get("/readyz")
def readyz():
    try:
        db_session.execute(text("SELECT 1"))
        redis_conn.ping()
    except Exception:
        logger.exception("readiness check failed")
        return jsonify(status="unavailable"), 503
    return jsonify(status="ready")


@app.post("/customers")
def create_customer():
    body = parse(CustomerIn)
    sc = stripe.Customer.create(email=body.email, name=body.name, idempotency_key=f"customer-{idempotency_key()}")
    existing = Customer.query.filter_by(stripe_customer_id=sc.id).one_or_none()
    if existing is not None:
        return jsonify(id=existing.id, stripe_customer_id=sc.id)
    customer = Customer(email=body.email, name=body.name, stripe_customer_id=sc.id, credits=0)
    db_session.add(customer)
    db_session.commit()
    logger.info("customer created", extra={"customer_id": customer.id})
    return jsonify(id=customer.id, stripe_customer_id=sc.id), 201


def _redeem_coupon(code: str | None, amount_cents: int) -> int:
    """Atomic conditional increment: never redeems past max_redemptions, even concurrently."""
    if not code:
        return amount_cents
    row = db_session.execute(
        update(Coupon)
        .where(Coupon.code == code, Coupon.times_redeemed < Coupon.max_redemptions)
        .values(times_redeemed=Coupon.times_redeemed + 1)
        .returning(Coupon.percent_off)
    ).one_or_none()
    if row is None:
        fail(409, error="coupon invalid or exhausted")
    return amount_cents * (100 - row.percent_off) // 100


@app.post("/subscriptions")
def subscribe():
    key = idempotency_key()
    body = parse(SubscribeIn)
    require_customer(body.customer_id)

    invoice = Invoice.query.filter_by(idempotency_key=f"subscribe-{key}").one_or_none()
    if invoice is None:
        customer = db_session.get(Customer, body.customer_id)
        plan = db_session.get(Plan, body.plan_id)
        if customer is None or plan is None or not plan.active:
            fail(404, error="unknown customer or plan")
        # Local intent (subscription + pending invoice + coupon redemption) commits atomically BEFORE charging.
        sub = Subscription(customer_id=customer.id, plan_id=plan.id, status="incomplete",
                           default_payment_method=body.payment_method)
        db_session.add(sub)
        db_session.flush()
        invoice = Invoice(subscription_id=sub.id, idempotency_key=f"subscribe-{key}",
                          amount_cents=_redeem_coupon(body.coupon, plan.amount_cents))
        db_session.add(invoice)
        try:
            db_session.commit()
        except IntegrityError:  # a concurrent request with the same key won the race
            db_session.rollback()
            invoice = Invoice.query.filter_by(idempotency_key=f"subscribe-{key}").one()
    elif invoice.status in ("succeeded", "failed"):
        return jsonify(subscription_id=invoice.subscription_id, status=invoice.status, replayed=True)

    sub = invoice.subscription
    try:
        intent = charge_invoice(invoice, sub.customer.stripe_customer_id, sub.default_payment_method)
    except stripe.error.CardError as exc:
        invoice.status = "failed"
        db_session.commit()
        return jsonify(error="card declined", code=exc.code, subscription_id=sub.id), 402
    except stripe.error.StripeError:
        logger.exception("charge failed", extra={"invoice_id": invoice.id})
        return jsonify(error="payment provider unavailable; retry with the same Idempotency-Key"), 503

    invoice.stripe_payment_intent_id = intent.id
    invoice.status = intent.status
    if intent.status == "succeeded":
        sub.status = "active"
        sub.current_period_end = utcnow() + timedelta(days=sub.plan.interval_days)
    db_session.commit()
    logger.info("subscription charged", extra={"subscription_id": sub.id, "invoice_id": invoice.id, "status": intent.status})
    return jsonify(subscription_id=sub.id, status=sub.status), 201


@app.post("/webhooks/stripe")
def stripe_webhook():
    try:
        event = stripe.Webhook.construct_event(
            request.get_data(), request.headers.get("Stripe-Signature", ""), settings.stripe_webhook_secret
        )
    except (ValueError, stripe.error.SignatureVerificationError):
        logger.warning("rejected webhook with invalid signature")
        return jsonify(error="invalid signature"), 400

    try:
        db_session.add(ProcessedEvent(event_id=event["id"]))
        db_session.flush()  # duplicate delivery -> IntegrityError -> already handled
    except IntegrityError:
        db_session.rollback()
        return jsonify(received=True, duplicate=True)

    try:
        obj = event["data"]["object"]
        if event["type"] == "payment_intent.succeeded":
            handle_payment_succeeded(obj)
        elif event["type"] == "payment_intent.payment_failed":
            invoice_id = int(obj["metadata"]["invoice_id"])
            subscription_id = int(obj["metadata"]["subscription_id"])
            # Enqueue before committing the event record: if Redis is down we answer 500 and Stripe redelivers;
            # a duplicate job is harmless because run_dunning counts each invoice once.
            q.enqueue(run_dunning, subscription_id, invoice_id, job_id=f"dunning-{invoice_id}")
        db_session.commit()
    except Exception:
        db_session.rollback()
        logger.exception("webhook processing failed", extra={"event_id": event["id"], "type": event["type"]})
        return jsonify(error="processing failed"), 500  # Stripe will redeliver
    return jsonify(received=True)


def handle_payment_succeeded(intent) -> None:
    invoice_id = int(intent["metadata"]["invoice_id"])
    invoice = db_session.query(Invoice).filter_by(id=invoice_id).with_for_update().one()  # missing -> 500 -> retry
    invoice.status = "succeeded"
    invoice.stripe_payment_intent_id = intent["id"]
    sub = invoice.subscription
    db_session.execute(update(Subscription).where(Subscription.id == sub.id).values(status="active", failed_attempts=0))
    if not invoice.credits_granted:
        invoice.credits_granted = True
        db_session.execute(
            update(Customer).where(Customer.id == sub.customer_id)
            .values(credits=Customer.credits + sub.plan.credits_per_period)
        )


@app.get("/customers/<int:customer_id>/invoices")
def list_invoices(customer_id):
    require_customer(customer_id)
    limit = min(max(request.args.get("limit", 25, type=int), 1), 100)
    before_id = request.args.get("before_id", type=int)
    query = (
        Invoice.query.join(Subscription)
        .options(joinedload(Invoice.subscription).joinedload(Subscription.plan))
        .filter(Subscription.customer_id == customer_id)
    )
    if before_id:
        query = query.filter(Invoice.id < before_id)
    invoices = query.order_by(Invoice.id.desc()).limit(limit).all()
    return jsonify(
        items=[{"id": i.id, "amount_cents": i.amount_cents, "status": i.status, "plan": i.subscription.plan.name,
                "created_at": i.created_at.isoformat()} for i in invoices],
        next_before_id=invoices[-1].id if len(invoices) == limit else None,
    )


@app.post("/admin/refunds")
@require_admin
def refund():
    body = parse(RefundIn)
    created = stripe.Refund.create(
        payment_intent=body.payment_intent, amount=body.amount,
        metadata={"reason": body.reason}, idempotency_key=f"refund-{idempotency_key()}",
    )
    logger.info("refund created", extra={"refund_id": created.id, "payment_intent": body.payment_intent,
                                         "amount": body.amount, "remote_addr": request.remote_addr})
    return jsonify(refund_id=created.id, status=created.status), 201


@app.errorhandler(stripe.error.StripeError)
def stripe_error(exc):
    db_session.rollback()
    logger.exception("stripe error", extra={"path": request.path})
    return jsonify(error="payment provider error"), 502
