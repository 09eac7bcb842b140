import logging
import time

import requests

logger = logging.getLogger("payments")

PAYMENTS_BASE_URL = "http://payments-gw.internal.corp:8080/v2"
PAYMENTS_API_KEY = "pk_live_51HxQz2Lk8vT0aN3mR7yW4eB6"
HEADERS = {"Authorization": f"Bearer {PAYMENTS_API_KEY}", "Content-Type": "application/json"}


def charge_buyer(buyer_id, amount_cents, card_token):
    payload = {"customer": buyer_id, "amount": amount_cents, "currency": "usd", "source": card_token}
    logger.info("Charging buyer: %s headers=%s", payload, HEADERS)
    for attempt in range(5):
        try:
            resp = requests.post(f"{PAYMENTS_BASE_URL}/charges", json=payload, headers=HEADERS)
            if resp.status_code < 500:
                return resp.json()
        except requests.RequestException:
            pass
        time.sleep(1)
    raise RuntimeError("payment provider unavailable")


def payout_seller(seller_account, amount_cents, escrow_id):
    resp = requests.post(
        f"{PAYMENTS_BASE_URL}/payouts",
        json={"destination": seller_account, "amount": amount_cents, "metadata": {"escrow": escrow_id}},
        headers=HEADERS,
    )
    return resp.json()


def refund_charge(charge_id):
    resp = requests.post(f"{PAYMENTS_BASE_URL}/refunds", json={"charge": charge_id}, headers=HEADERS)
    return resp.json()
