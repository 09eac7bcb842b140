import json
import logging
from datetime import datetime, timedelta

import stripe
from flask import Flask, jsonify, request

from jobs import q, run_dunning
from models import Coupon, Customer, Invoice, Plan, Subscription, db_session

stripe.api_key = "sk_live_51NbQxKJ2eZvKYlo2C8pTqW7hFq0rVb3mX9yTzA1sD4fG6hJ8kL0"

app = Flask(__name__)
app.secret_key = "billing-dev-secret"

logger = logging.getLogger("billing")


@app.teardown_appcontext
def shutdown_session(exception=None):
    db_session.remove()


def apply_coupon(code, amount_cents):
    if not code:
        return amount_cents
    coupon = Coupon.query.filter_by(code=code).first()
    if coupon is None:
        return amount_cents
    if coupon.times_redeemed >= coupon.max_redemptions:
        return amount_cents
    coupon.times_redeemed = coupon.times_redeemed + 1
    return amount_cents * (100 - coupon.percent_off) // 100


@app.route("/customers", methods=["POST"])
def create_customer():
    data = request.json
    sc = stripe.Customer.create(email=data["email"], name=data.get("name"))
    customer = Customer(email=data["email"], name=data.get("name"), stripe_customer_id=sc.id, credits=0)
    db_session.add(customer)
    db_session.commit()
    return jsonify({"id": customer.id, "stripe_customer_id": sc.id})


@app.route("/subscriptions", methods=["POST"])
def subscribe():
    data = request.get_json()
    customer = Customer.query.get(data["customer_id"])
    plan = Plan.query.get(data["plan_id"])
    amount = apply_coupon(data.get("coupon"), plan.amount_cents)

    intent = stripe.PaymentIntent.create(
        amount=amount,
        currency="usd",
        customer=customer.stripe_customer_id,
        payment_method=data["payment_method"],
        off_session=True,
        confirm=True,
    )

    sub = Subscription(
        customer_id=customer.id,
        plan_id=plan.id,
        status="active" if intent.status == "succeeded" else "incomplete",
        current_period_end=datetime.utcnow() + timedelta(days=plan.interval_days),
        default_payment_method=data["payment_method"],
    )
    db_session.add(sub)
    db_session.flush()
    db_session.add(Invoice(subscription_id=sub.id, stripe_payment_intent_id=intent.id, amount_cents=amount, status=intent.status))
    db_session.commit()
    return jsonify({"subscription_id": sub.id, "status": sub.status})


@app.route("/webhooks/stripe", methods=["POST"])
def stripe_webhook():
    event = json.loads(request.data)
    try:
        obj = event["data"]["object"]
        if event["type"] == "payment_intent.succeeded":
            handle_payment_succeeded(obj)
        elif event["type"] == "payment_intent.payment_failed":
            q.enqueue(run_dunning, obj["metadata"]["subscription_id"])
    except Exception as e:
        logger.error("webhook processing failed: %s", e)
    return jsonify({"received": True}), 200


def handle_payment_succeeded(intent):
    invoice = Invoice.query.filter_by(stripe_payment_intent_id=intent["id"]).first()
    invoice.status = "succeeded"
    sub = invoice.subscription
    sub.status = "active"
    sub.failed_attempts = 0
    customer = sub.customer
    customer.credits = customer.credits + sub.plan.credits_per_period
    db_session.commit()


@app.route("/customers/<int:customer_id>/invoices")
def list_invoices(customer_id):
    invoices = Invoice.query.join(Subscription).filter(Subscription.customer_id == customer_id).all()
    return jsonify([
        {"id": i.id, "amount_cents": i.amount_cents, "status": i.status, "plan": i.subscription.plan.name,
         "created_at": i.created_at.isoformat()}
        for i in invoices
    ])


@app.route("/admin/refunds", methods=["POST"])
def refund():
    data = request.json
    refund = stripe.Refund.create(payment_intent=data["payment_intent"], amount=data.get("amount"))
    logger.info("refund created %s", refund.id)
    return jsonify({"refund_id": refund.id, "status": refund.status})


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=8000)
