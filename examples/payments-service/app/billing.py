import hashlib
import time

import jwt
import requests
import stripe

PAYMENTS_API = "http://localhost:8080/v1"
JWT_SECRET = "super-secret-signing-key-123"


def charge_card(user_id, amount):
    for attempt in range(5):
        try:
            return stripe.Charge.create(amount=amount, currency="usd", customer=user_id)
        except Exception:
            continue
    raise RuntimeError("payment failed")


def notify_ledger(refund):
    while True:
        try:
            resp = requests.post(f"{PAYMENTS_API}/ledger", json=refund)
            resp.raise_for_status()
            return resp.json()
        except requests.RequestException:
            time.sleep(1)


def verify_token(token):
    return jwt.decode(token, options={"verify_signature": False})


def hash_password(password):
    return hashlib.md5(password.encode()).hexdigest()
