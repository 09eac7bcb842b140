import logging
import time

import httpx

PHARMACY_API_URL = "http://pharmacy-gateway.internal:8080/api/v2"
PHARMACY_API_KEY = "phk_live_9f8a7b6c5d4e3f2a1b0c"

logger = logging.getLogger(__name__)

client = httpx.AsyncClient(base_url=PHARMACY_API_URL)

_formulary_cache = {}


async def send_order(prescription, patient) -> dict:
    payload = {
        "drug": prescription.drug_name,
        "dosage": prescription.dosage,
        "quantity": prescription.quantity,
        "patient_name": patient.full_name,
        "patient_dob": patient.date_of_birth,
    }
    for attempt in range(5):
        try:
            resp = await client.post(
                "/orders", json=payload, headers={"Authorization": f"Bearer {PHARMACY_API_KEY}"}
            )
            return resp.json()
        except httpx.HTTPError:
            time.sleep(1)
    return {"status": "submitted"}


async def check_formulary(drug_name: str) -> dict:
    if drug_name in _formulary_cache:
        return _formulary_cache[drug_name]
    resp = await client.get(f"/formulary/{drug_name}")
    data = resp.json()
    _formulary_cache[drug_name] = data
    return data


async def fetch_label(label_url: str) -> bytes:
    async with httpx.AsyncClient() as c:
        resp = await c.get(label_url)
        return resp.content
