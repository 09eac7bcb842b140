import asyncio
import logging
import os
import random
import time
from urllib.parse import quote

import httpx

logger = logging.getLogger(__name__)

PHARMACY_API_URL = os.environ["PHARMACY_API_URL"]
PHARMACY_API_KEY = os.environ["PHARMACY_API_KEY"]
LABEL_HOST = os.environ["PHARMACY_LABEL_HOST"]
FORMULARY_TTL_SECONDS = 600
FORMULARY_CACHE_MAX = 1000

client = httpx.AsyncClient(
    base_url=PHARMACY_API_URL,
    timeout=httpx.Timeout(10.0, connect=3.0),
    limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
    headers={"Authorization": f"Bearer {PHARMACY_API_KEY}"},
)

_formulary_cache: dict[str, tuple[float, dict]] = {}


class PharmacyError(Exception):
    pass


async def send_order(prescription, patient, idempotency_key: str) -> dict:
    """Submit an order. Safe to retry because the pharmacy deduplicates on Idempotency-Key."""
    payload = {
        "drug": prescription.drug_name,
        "dosage": prescription.dosage,
        "quantity": prescription.quantity,
        "patient_name": patient.full_name,
        "patient_dob": patient.date_of_birth,
    }
    last_exc: Exception | None = None
    for attempt in range(4):
        try:
            resp = await client.post("/orders", json=payload, headers={"Idempotency-Key": idempotency_key})
            if resp.status_code < 500:
                resp.raise_for_status()
                return resp.json()
            last_exc = PharmacyError(f"pharmacy returned {resp.status_code}")
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            last_exc = exc
        except httpx.HTTPStatusError as exc:
            raise PharmacyError(f"pharmacy rejected order: {exc.response.status_code}") from exc
        delay = min(8.0, 0.5 * 2**attempt) + random.uniform(0, 0.25)
        logger.warning("pharmacy order attempt failed", extra={"attempt": attempt + 1, "rx_id": prescription.id})
        await asyncio.sleep(delay)
    raise PharmacyError("pharmacy unavailable after retries") from last_exc


async def check_formulary(drug_name: str) -> dict:
    now = time.monotonic()
    cached = _formulary_cache.get(drug_name)
    if cached and now - cached[0] < FORMULARY_TTL_SECONDS:
        return cached[1]
    resp = await client.get("/formulary", params={"drug": drug_name})
    resp.raise_for_status()
    data = resp.json()
    if len(_formulary_cache) >= FORMULARY_CACHE_MAX:
        _formulary_cache.pop(next(iter(_formulary_cache)))
    _formulary_cache[drug_name] = (now, data)
    return data


async def fetch_label(pharmacy_order_id: str) -> bytes:
    # Labels are only fetched from the configured pharmacy host, never from a caller-supplied URL.
    resp = await client.get(f"https://{LABEL_HOST}/labels/{quote(pharmacy_order_id, safe='')}")
    resp.raise_for_status()
    return resp.content


async def aclose() -> None:
    await client.aclose()
