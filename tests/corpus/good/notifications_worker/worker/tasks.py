import json
import logging
from typing import Any

import redis
import requests
from cachetools import TTLCache, cached
from celery import Task
from requests.adapters import HTTPAdapter

from worker.celery_app import app
from worker.settings import settings

logger = logging.getLogger(__name__)

r = redis.Redis.from_url(
    settings.redis_url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30
)
http = requests.Session()
http.mount("https://", HTTPAdapter(pool_connections=10, pool_maxsize=20))

SENT_MARKER_TTL = 7 * 24 * 3600


class TransientError(Exception):
    """A failure worth retrying: timeouts, connection errors, 429 and 5xx."""


def _check(resp: requests.Response) -> requests.Response:
    if resp.status_code == 429 or resp.status_code >= 500:
        raise TransientError(f"HTTP {resp.status_code} from {resp.url}")
    resp.raise_for_status()
    return resp


@cached(TTLCache(maxsize=10_000, ttl=300))
def get_user(user_id: int) -> dict[str, Any]:
    try:
        resp = http.get(f"{settings.user_service_url}/users/{user_id}", timeout=settings.http_timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(str(exc)) from exc
    return _check(resp).json()


RETRY_POLICY: dict[str, Any] = {
    "autoretry_for": (TransientError,),
    "max_retries": 6,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
}


@app.task(bind=True, **RETRY_POLICY)
def send_email(self: Task, message_id: str, user_id: int, template: str, context: dict) -> None:
    # A retry after a send that actually went through must not e-mail the user twice.
    marker = f"email-sent:{message_id}"
    if r.exists(marker):
        logger.info("email already sent", extra={"message_id": message_id})
        return
    user = get_user(user_id)
    try:
        resp = http.post(
            "https://api.sendgrid.com/v3/mail/send",
            headers={"Authorization": f"Bearer {settings.sendgrid_api_key}"},
            json={
                "personalizations": [{"to": [{"email": user["email"]}]}],
                "from": {"email": "no-reply@example.com"},
                "template_id": template,
                "dynamic_template_data": context,
                "custom_args": {"message_id": message_id},
            },
            timeout=settings.http_timeout,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(str(exc)) from exc
    _check(resp)
    r.set(marker, "1", ex=SENT_MARKER_TTL)
    logger.info("email sent", extra={"message_id": message_id, "template": template})


@app.task(bind=True, **RETRY_POLICY)
def charge_subscription(
    self: Task, subscription_id: str, period: str, customer_id: str, amount_cents: int
) -> dict[str, Any]:
    try:
        resp = http.post(
            settings.billing_url,
            json={"customer_id": customer_id, "amount": amount_cents, "reason": subscription_id},
            # Same key on every retry: the billing service charges a period at most once.
            headers={"Idempotency-Key": f"subscription:{subscription_id}:{period}"},
            timeout=settings.http_timeout,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(str(exc)) from exc
    return _check(resp).json()


@app.task
def process_event_batch(batch_key: str) -> None:
    raw = r.get(batch_key)
    if raw is None:
        logger.warning("event batch missing or expired", extra={"batch_key": batch_key})
        return
    for event in json.loads(raw):
        send_email.delay(
            event["message_id"], event["user_id"], event["template"], event.get("context", {})
        )
    r.delete(batch_key)
