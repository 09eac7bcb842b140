import requests
import stripe

STRIPE_API = "https://api.stripe.com/v1"


def refund_charge(charge_id: str) -> dict:
    resp = requests.post(
        f"{STRIPE_API}/refunds",
        data={"charge": charge_id},
        auth=(stripe.api_key, ""),
        verify=False,
    )
    resp.raise_for_status()
    return resp.json()
