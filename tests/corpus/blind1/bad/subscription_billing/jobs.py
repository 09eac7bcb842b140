import logging
import time
from datetime import datetime, timedelta

import requests
import stripe
from redis import Redis
from rq import Queue

from models import Invoice, Subscription, db_session

logger = logging.getLogger("billing.jobs")

MAILER_URL = "http://mailer.billing.internal:8025/api/send"

q = Queue("billing", connection=Redis(host="redis", port=6379))


def enqueue_renewals():
    """Run every hour from cron: `rq enqueue jobs.enqueue_renewals`."""
    due = Subscription.query.filter(
        Subscription.status == "active", Subscription.current_period_end <= datetime.utcnow()
    ).all()
    for sub in due:
        q.enqueue(renew_subscription, sub)


def renew_subscription(sub):
    customer = sub.customer
    amount = sub.plan.amount_cents
    intent = None
    for attempt in range(3):
        try:
            intent = stripe.PaymentIntent.create(
                amount=amount,
                currency="usd",
                customer=customer.stripe_customer_id,
                payment_method=sub.default_payment_method,
                off_session=True,
                confirm=True,
                metadata={"subscription_id": sub.id},
            )
            break
        except stripe.error.StripeError as e:
            logger.warning("renewal attempt %s for sub %s failed: %s", attempt, sub.id, e)
            time.sleep(2)

    sub.current_period_end = sub.current_period_end + timedelta(days=sub.plan.interval_days)
    db_session.add(Invoice(subscription_id=sub.id, stripe_payment_intent_id=intent.id if intent else None,
                           amount_cents=amount, status=intent.status if intent else "failed"))
    db_session.commit()


def run_dunning(subscription_id):
    sub = Subscription.query.get(int(subscription_id))
    sub.failed_attempts = sub.failed_attempts + 1
    if sub.failed_attempts >= 3:
        sub.status = "canceled"
    db_session.commit()

    requests.post(
        MAILER_URL,
        json={
            "to": sub.customer.email,
            "template": "payment_failed",
            "vars": {"name": sub.customer.name, "attempt": sub.failed_attempts},
        },
    )
