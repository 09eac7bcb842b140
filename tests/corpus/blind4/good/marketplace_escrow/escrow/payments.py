import logging

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

logger = logging.getLogger("payments")
TIMEOUT = (3.05, 15)


class PaymentError(Exception):
    pass


class PaymentsClient:
    """All mutating calls carry an Idempotency-Key, so the provider de-duplicates retries."""

    def __init__(self, base_url, api_key):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {api_key}"})
        retry = Retry(
            total=3, backoff_factor=0.5, status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"GET", "POST"}), respect_retry_after_header=True,
        )
        self.session.mount("https://", HTTPAdapter(max_retries=retry))

    def _post(self, path, body, idempotency_key):
        try:
            resp = self.session.post(
                f"{self.base_url}{path}", json=body, timeout=TIMEOUT,
                headers={"Idempotency-Key": idempotency_key},
            )
            resp.raise_for_status()
        except requests.RequestException as exc:
            status = getattr(exc.response, "status_code", None)
            logger.warning("payment call failed path=%s status=%s key=%s", path, status, idempotency_key)
            raise PaymentError(f"{path} failed with status {status}") from exc
        return resp.json()

    def charge_buyer(self, buyer_id, amount_cents, card_token, idempotency_key):
        logger.info("charging buyer=%s amount=%s key=%s", buyer_id, amount_cents, idempotency_key)
        return self._post("/charges", {"customer": buyer_id, "amount": amount_cents,
                                       "currency": "usd", "source": card_token}, idempotency_key)

    def payout_seller(self, seller_account, amount_cents, escrow_id):
        return self._post("/payouts", {"destination": seller_account, "amount": amount_cents,
                                       "metadata": {"escrow": escrow_id}}, f"payout-{escrow_id}")

    def refund_charge(self, charge_id, escrow_id):
        return self._post("/refunds", {"charge": charge_id}, f"refund-{escrow_id}")
