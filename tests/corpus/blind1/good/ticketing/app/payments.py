"""Async client for the PayFast payment provider."""
import asyncio
import hashlib
import hmac
import logging
import random

import aiohttp

logger = logging.getLogger("ticketing.payments")

RETRYABLE_STATUS = {429, 502, 503, 504}


class PaymentError(Exception):
    pass


class PaymentDeclined(PaymentError):
    pass


class PayFastClient:
    def __init__(self, base_url: str, api_key: str, webhook_secret: str, timeout_s: int,
                 max_attempts: int = 3):
        self._base_url = base_url
        self._api_key = api_key
        self._webhook_secret = webhook_secret.encode()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=3)
        self._max_attempts = max_attempts
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def charge(self, *, reservation_id: int, amount_cents: int, email: str,
                     card_token: str, idempotency_key: str) -> dict:
        """Create a charge. Safe to retry because the provider dedupes on Idempotency-Key."""
        payload = {
            "amount": amount_cents,
            "currency": "EUR",
            "source": card_token,
            "receipt_email": email,
            "metadata": {"reservation_id": reservation_id},
        }
        headers = {"Authorization": f"Bearer {self._api_key}", "Idempotency-Key": idempotency_key}
        for attempt in range(1, self._max_attempts + 1):
            try:
                async with self._session.post(f"{self._base_url}/charges", json=payload,
                                              headers=headers) as resp:
                    if resp.status == 200:
                        return await resp.json()
                    if resp.status == 402:
                        raise PaymentDeclined("card declined")
                    if resp.status not in RETRYABLE_STATUS:
                        text = await resp.text()
                        raise PaymentError(f"provider returned {resp.status}: {text[:200]}")
                    logger.warning("payfast retryable status", extra={
                        "status": resp.status, "attempt": attempt, "reservation_id": reservation_id})
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
                logger.warning("payfast transport error", extra={
                    "error": repr(exc), "attempt": attempt, "reservation_id": reservation_id})
            if attempt < self._max_attempts:
                await asyncio.sleep(min(8.0, 0.5 * 2 ** attempt) + random.uniform(0, 0.25))
        raise PaymentError("payment provider unavailable")

    def verify_signature(self, body: bytes, signature: str | None) -> bool:
        if not signature:
            return False
        expected = hmac.new(self._webhook_secret, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)
