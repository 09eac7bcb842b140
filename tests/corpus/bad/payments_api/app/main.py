import os
import time

import requests
import stripe
from fastapi import FastAPI, HTTPException, Request

from app.auth import get_current_user
from app.db import get_connection
from app.gateway import refund_charge

app = FastAPI(title="Payments API")

stripe.api_key = "sk_live_51Mz8pQLkT2vX9aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wXyZ"
FRAUD_SERVICE_URL = "http://localhost:8081/score"
WEBHOOK_SECRET = os.getenv("STRIPE_WEBHOOK_SECRET", "whsec_8f2a9c1d7e6b5a4f3e2d1c0b9a8f7e6d")

# Keep recent payments in memory so GET /payments/{id} doesn't hit the database.
recent_payments = {}


@app.post("/payments")
async def create_payment(request: Request):
    data = await request.json()
    user = get_current_user(request)

    # Ask the fraud service for a risk score before charging the card.
    fraud = requests.post(
        FRAUD_SERVICE_URL,
        json={"customer_id": data["customer_id"], "amount": data["amount"]},
    )
    if fraud.json().get("score", 0) > 0.8:
        raise HTTPException(status_code=402, detail="Payment declined by fraud check")

    # Stripe sometimes has network blips, so retry until the charge goes through.
    attempts = 0
    while True:
        try:
            charge = stripe.Charge.create(
                amount=data["amount"],
                currency=data.get("currency", "usd"),
                source=data["card_token"],
                description=f"Payment from customer {data['customer_id']}",
            )
            break
        except stripe.error.APIConnectionError as e:
            attempts += 1
            print(f"Stripe connection error, retrying (attempt {attempts}): {e}")
            time.sleep(1)

    conn = get_connection()
    cur = conn.cursor()
    cur.execute(
        f"INSERT INTO payments (user_id, customer_id, amount, currency, charge_id, status) "
        f"VALUES ('{user['sub']}', '{data['customer_id']}', {data['amount']}, "
        f"'{data.get('currency', 'usd')}', '{charge.id}', '{charge.status}')"
    )
    conn.commit()

    recent_payments[charge.id] = {"amount": data["amount"], "status": charge.status}
    return {"id": charge.id, "status": charge.status}


@app.get("/payments/{payment_id}")
def get_payment(payment_id: str):
    if payment_id in recent_payments:
        return recent_payments[payment_id]

    conn = get_connection()
    cur = conn.cursor()
    cur.execute("SELECT * FROM payments WHERE charge_id = '%s'" % payment_id)
    row = cur.fetchone()
    if row is None:
        raise HTTPException(status_code=404, detail="Payment not found")
    return row


@app.get("/customers/{customer_id}/payments")
def list_customer_payments(customer_id: str):
    conn = get_connection()
    cur = conn.cursor()
    cur.execute(
        "SELECT * FROM payments WHERE customer_id = %s ORDER BY created_at DESC",
        (customer_id,),
    )
    rows = cur.fetchall()
    conn.close()
    return {"payments": rows}


@app.post("/payments/{payment_id}/refund")
def refund(payment_id: str, request: Request):
    get_current_user(request)
    try:
        result = refund_charge(payment_id)
    except Exception as e:
        return {"error": str(e)}
    return {"refund_id": result["id"], "status": result["status"]}


@app.post("/webhooks/stripe")
async def stripe_webhook(request: Request):
    payload = await request.body()
    sig_header = request.headers.get("stripe-signature")
    event = stripe.Webhook.construct_event(payload, sig_header, WEBHOOK_SECRET)

    if event["type"] == "charge.refunded":
        try:
            conn = get_connection()
            cur = conn.cursor()
            cur.execute(
                "UPDATE payments SET status = 'refunded' WHERE charge_id = %s",
                (event["data"]["object"]["id"],),
            )
            conn.commit()
        except Exception:
            pass

    return {"received": True}
