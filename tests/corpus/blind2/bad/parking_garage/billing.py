import math
import time
from datetime import datetime

import requests

PAYMENT_API_URL = "https://api.payfast-gateway.com/v1/charges"
PAYMENT_API_KEY = "pk_live_51HxGarage8d7f6e5d4c3b2a1"
BARRIER_API_URL = "http://10.0.12.40:8081/barrier"

HOURLY_RATE = 3.5
DAILY_CAP = 28.0


def compute_fee(entered_at, exited_at, validated_hours=0):
    hours = math.ceil((exited_at - entered_at).total_seconds() / 3600)
    billable = hours - validated_hours
    days, rest = divmod(billable, 24)
    return round(days * DAILY_CAP + min(rest * HOURLY_RATE, DAILY_CAP), 2)


def charge(plate, amount, card_token):
    payload = {
        "amount": int(amount * 100),
        "currency": "EUR",
        "source": card_token,
        "description": f"Parking {plate}",
    }
    for attempt in range(3):
        try:
            resp = requests.post(
                PAYMENT_API_URL,
                json=payload,
                headers={"Authorization": f"Bearer {PAYMENT_API_KEY}"},
            )
            return resp.json()
        except requests.RequestException:
            time.sleep(0.5)
    return {"status": "failed"}


async def open_barrier(session, lane):
    async with session.post(f"{BARRIER_API_URL}/{lane}/open") as resp:
        return resp.status == 200


def parse_ts(value):
    return datetime.fromisoformat(value)
