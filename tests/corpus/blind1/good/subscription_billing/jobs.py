import logging
from datetime import timedelta

import requests
import stripe
from redis import Redis
from rq import Queue, Retry
from sqlalchemy import or_, update

from models import Invoice, Subscription, db_session, settings, utcnow

logger = logging.getLogger("billing.jobs")

stripe.api_key = settings.stripe_api_key
stripe.max_network_retries = 2  # the SDK reuses one idempotency key across its own retries
stripe.default_http_client = stripe.http_client.RequestsClient(timeout=20)

redis_conn = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
q = Queue("billing", connection=redis_conn, default_timeout=120)

MAX_FAILED_ATTEMPTS = 3
RENEWAL_BATCH = 500
_mailer = requests.Session()


def charge_invoice(invoice: Invoice, customer_stripe_id: str, payment_method: str) -> stripe.PaymentIntent:
    """Charge an invoice exactly once: the invoice's idempotency key makes every retry safe."""
    return stripe.PaymentIntent.create(
        amount=invoice.amount_cents,
        currency="usd",
        customer=customer_stripe_id,
        payment_method=payment_method,
        off_session=True,
        confirm=True,
        metadata={"invoice_id": str(invoice.id), "subscription_id": str(invoice.subscription_id)},
        idempotency_key=f"invoice-{invoice.idempotency_key}",
    )


def enqueue_renewals() -> int:
    """Hourly (rq-scheduler/cron). Claims due subscriptions atomically so overlapping runs never double-enqueue."""
    now = utcnow()
    queued = 0
    try:
        while True:
            claimed = db_session.execute(
                update(Subscription)
                .where(
                    Subscription.id.in_(
                        db_session.query(Subscription.id)
                        .filter(
                            Subscription.status == "active",
                            Subscription.current_period_end <= now,
                            or_(Subscription.renewal_enqueued_at.is_(None),
                                Subscription.renewal_enqueued_at < now - timedelta(hours=6)),
                        )
                        .order_by(Subscription.id)
                        .limit(RENEWAL_BATCH)
                        .with_for_update(skip_locked=True)
                        .scalar_subquery()
                    )
                )
                .values(renewal_enqueued_at=now)
                .returning(Subscription.id, Subscription.current_period_end)
                .execution_options(synchronize_session=False)
            ).all()
            db_session.commit()
            if not claimed:
                break
            for sub_id, period_end in claimed:
                q.enqueue(
                    renew_subscription, sub_id,
                    job_id=f"renew-{sub_id}-{int(period_end.timestamp())}",
                    retry=Retry(max=3, interval=[60, 300, 900]),
                    job_timeout=120,
                )
            queued += len(claimed)
    finally:
        db_session.remove()
    logger.info("renewals enqueued", extra={"count": queued})
    return queued


def renew_subscription(subscription_id: int) -> str:
    try:
        sub = db_session.query(Subscription).filter_by(id=subscription_id).with_for_update().one_or_none()
        if sub is None or sub.status != "active" or sub.current_period_end > utcnow():
            db_session.rollback()
            return "skipped"
        key = f"renew-{sub.id}-{int(sub.current_period_end.timestamp())}"
        invoice = Invoice.query.filter_by(idempotency_key=key).one_or_none()
        if invoice is None:
            invoice = Invoice(subscription_id=sub.id, idempotency_key=key, amount_cents=sub.plan.amount_cents)
            db_session.add(invoice)
        db_session.commit()  # the pending invoice exists before money moves

        try:
            intent = charge_invoice(invoice, sub.customer.stripe_customer_id, sub.default_payment_method)
        except stripe.error.CardError as exc:
            invoice.status = "failed"
            db_session.commit()
            logger.warning("renewal declined", extra={"subscription_id": sub.id, "invoice_id": invoice.id, "code": exc.code})
            q.enqueue(run_dunning, sub.id, invoice.id, job_id=f"dunning-{invoice.id}", retry=Retry(max=5, interval=[60, 300, 900]))
            return "declined"
        # APIConnectionError / RateLimitError propagate: RQ retries with the same idempotency key.

        invoice.stripe_payment_intent_id = intent.id
        invoice.status = intent.status
        if intent.status == "succeeded":
            sub.current_period_end = sub.current_period_end + timedelta(days=sub.plan.interval_days)
            sub.renewal_enqueued_at = None
        db_session.commit()
        logger.info("renewal charged", extra={"subscription_id": sub.id, "invoice_id": invoice.id, "status": intent.status})
        return intent.status
    except Exception:
        db_session.rollback()
        logger.exception("renewal failed", extra={"subscription_id": subscription_id})
        raise
    finally:
        db_session.remove()


def run_dunning(subscription_id: int, invoice_id: int) -> None:
    try:
        # Count each failed invoice once, even if the event or the job is delivered twice.
        marked = db_session.execute(
            update(Invoice).where(Invoice.id == invoice_id, Invoice.dunning_notified.is_(False))
            .values(dunning_notified=True)
        ).rowcount
        if marked:
            attempts = db_session.execute(
                update(Subscription).where(Subscription.id == subscription_id)
                .values(failed_attempts=Subscription.failed_attempts + 1)
                .returning(Subscription.failed_attempts)
            ).scalar_one()
            if attempts >= MAX_FAILED_ATTEMPTS:
                db_session.execute(
                    update(Subscription).where(Subscription.id == subscription_id).values(status="canceled")
                )
        sub = db_session.get(Subscription, subscription_id)
        attempts, email, name = sub.failed_attempts, sub.customer.email, sub.customer.name
        db_session.commit()
    except Exception:
        db_session.rollback()
        raise
    finally:
        db_session.remove()

    resp = _mailer.post(
        settings.mailer_url,
        json={"to": email, "template": "payment_failed", "vars": {"name": name, "attempt": attempts}},
        headers={"Idempotency-Key": f"dunning-{invoice_id}"},
        timeout=(3, 10),
    )
    resp.raise_for_status()  # RQ Retry re-sends; the mailer dedupes on the idempotency key
    logger.info("dunning email sent", extra={"subscription_id": subscription_id, "invoice_id": invoice_id, "attempt": attempts})
