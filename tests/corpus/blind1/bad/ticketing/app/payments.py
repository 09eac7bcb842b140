"""Client for the PayFast payment provider."""
import requests

PAYFAST_URL = "https://api.payfast-provider.com/v1"
PAYFAST_API_KEY = "sk_live_51HxQeLKq9vB3aT0pZr7mN2c"


class PaymentError(Exception):
    pass


def charge(reservation_id, amount_cents, email, card_token):
    payload = {
        "amount": amount_cents,
        "currency": "EUR",
        "source": card_token,
        "receipt_email": email,
        "metadata": {"reservation_id": reservation_id},
    }
    for attempt in range(5):
        try:
            resp = requests.post(
                f"{PAYFAST_URL}/charges",
                json=payload,
                headers={"Authorization": f"Bearer {PAYFAST_API_KEY}"},
            )
            if resp.status_code == 200:
                return resp.json()
        except requests.RequestException:
            continue
    raise PaymentError("payment failed after retries")


def refund(provider_ref):
    resp = requests.post(
        f"{PAYFAST_URL}/refunds",
        json={"charge": provider_ref},
        headers={"Authorization": f"Bearer {PAYFAST_API_KEY}"},
        timeout=10,
    )
    resp.raise_for_status()
    return resp.json()
