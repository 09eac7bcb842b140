"""E-signature provider client and S3 access shared by views and tasks."""
import logging

import boto3
import requests
from botocore.config import Config
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

logger = logging.getLogger(__name__)

s3 = boto3.client("s3", region_name=settings.AWS_REGION, config=Config(
    connect_timeout=3, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}))


class ESignError(Exception):
    """Permanent provider error (4xx other than 429)."""


class ESignUnavailable(Exception):
    """Transient provider error; safe to retry later."""


def _session() -> requests.Session:
    session = requests.Session()
    # Only idempotent methods are retried automatically; POSTs carry an Idempotency-Key
    # and are retried by the Celery task instead.
    retry = Retry(total=3, backoff_factor=0.5, status_forcelist=(429, 502, 503, 504),
                  allowed_methods=frozenset({"GET"}), respect_retry_after_header=True)
    session.mount("https://", HTTPAdapter(max_retries=retry))
    session.headers["Authorization"] = f"Bearer {settings.ESIGN_API_KEY}"
    return session


_http = _session()


def esign_request(method, endpoint, *, idempotency_key=None, **kwargs):
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    try:
        resp = _http.request(method, f"{settings.ESIGN_API_URL}{endpoint}", headers=headers,
                             timeout=settings.ESIGN_TIMEOUT, **kwargs)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise ESignUnavailable(str(exc)) from exc
    if resp.status_code == 429 or resp.status_code >= 500:
        raise ESignUnavailable(f"{method} {endpoint} -> {resp.status_code}")
    if resp.status_code >= 400:
        raise ESignError(f"{method} {endpoint} -> {resp.status_code}: {resp.text[:200]}")
    return resp.json()


def presigned_get(key, expires=900):
    return s3.generate_presigned_url(
        "get_object", Params={"Bucket": settings.DOCUMENTS_BUCKET, "Key": key}, ExpiresIn=expires)
