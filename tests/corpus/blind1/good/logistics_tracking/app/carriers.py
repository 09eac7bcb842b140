"""Carrier tracking and SMS clients with timeouts and bounded, backed-off retries."""
import logging

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from app.config import get_settings

logger = logging.getLogger("logistics.carriers")


class CarrierUnavailable(Exception):
    """Transient failure: the caller may retry later."""


class CarrierRejected(Exception):
    """Permanent failure (4xx): retrying will not help."""


def _session(methods) -> requests.Session:
    session = requests.Session()
    retry = Retry(total=3, connect=3, read=2, backoff_factor=0.5, allowed_methods=methods,
                  status_forcelist=(429, 502, 503, 504), respect_retry_after_header=True)
    session.mount("https://", HTTPAdapter(max_retries=retry, pool_maxsize=20))
    return session


_tracking = _session(frozenset({"GET"}))
_sms = _session(frozenset())  # never auto-retry POSTs; the actor retries with an idempotency key


def fetch_carrier_status(carrier: str, tracking_number: str) -> dict:
    s = get_settings()
    try:
        resp = _tracking.get(s.carrier_urls[carrier], params={"tracking_number": tracking_number},
                             headers={"X-Api-Key": s.carrier_keys[carrier]}, timeout=s.http_timeout)
    except requests.RequestException as exc:
        raise CarrierUnavailable(f"{carrier}: {exc.__class__.__name__}") from exc
    if resp.status_code >= 500 or resp.status_code == 429:
        raise CarrierUnavailable(f"{carrier} returned {resp.status_code}")
    if resp.status_code >= 400:
        raise CarrierRejected(f"{carrier} returned {resp.status_code}")
    return resp.json()


def send_sms(phone: str, text: str, idempotency_key: str) -> None:
    s = get_settings()
    try:
        resp = _sms.post(s.sms_api_url, json={"to": phone, "text": text}, timeout=s.http_timeout,
                         headers={"Authorization": f"Bearer {s.sms_api_key}",
                                  "Idempotency-Key": idempotency_key})
    except requests.RequestException as exc:
        raise CarrierUnavailable(f"sms: {exc.__class__.__name__}") from exc
    if resp.status_code >= 500 or resp.status_code == 429:
        raise CarrierUnavailable(f"sms returned {resp.status_code}")
    if resp.status_code >= 400:
        raise CarrierRejected(f"sms returned {resp.status_code}")
