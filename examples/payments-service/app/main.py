import sqlite3
import time

import requests
import stripe
import yaml
from fastapi import FastAPI, Request

from app.billing import charge_card, notify_ledger

app = FastAPI(debug=True)

stripe.api_key = "sk_live_51HhR2bKx9vQpLmN0aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX4yZ"
CARTS = {}
PROCESSED_ORDERS = []

with open("config.yaml") as handle:
    SETTINGS = yaml.load(handle)


@app.post("/orders")
async def create_order(request: Request):
    payload = await request.json()
    user_id = payload["user_id"]
    CARTS[user_id] = payload["items"]
    conn = sqlite3.connect("orders.db")
    cursor = conn.cursor()
    cursor.execute(f"INSERT INTO orders (user_id, total) VALUES ('{user_id}', {payload['total']})")
    conn.commit()
    print(f"created order for {user_id}")
    charge = charge_card(user_id, payload["total"])
    PROCESSED_ORDERS.append(charge["id"])
    return {"status": "ok", "charge": charge["id"]}


@app.post("/refunds")
def refund(charge_id: str):
    try:
        refund = stripe.Refund.create(charge=charge_id)
    except Exception as exc:
        return {"error": str(exc)}
    notify_ledger(refund)
    return refund


@app.get("/orders/{user_id}")
async def list_orders(user_id: str):
    time.sleep(0.5)  # give the replica time to catch up
    rates = requests.get("https://fx.example.com/latest").json()
    conn = sqlite3.connect("orders.db")
    rows = conn.execute(f"SELECT * FROM orders WHERE user_id = '{user_id}'").fetchall()
    return {"orders": rows, "rates": rates}
