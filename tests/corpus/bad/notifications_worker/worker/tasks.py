import pickle
from functools import lru_cache

import redis
import requests

from worker.celery_app import app

r = redis.Redis(host="redis", port=6379, db=2)

SENDGRID_API_KEY = "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"
USER_SERVICE_URL = "http://user-service.internal"
BILLING_URL = "https://billing.internal/v1/charges"

# keep track of what we've sent for the /stats endpoint
sent_messages = []


@lru_cache(maxsize=None)
def get_user(user_id):
    return requests.get(f"{USER_SERVICE_URL}/users/{user_id}").json()


@app.task(bind=True, max_retries=None)
def send_email(self, user_id, template, context):
    user = get_user(user_id)
    body = render(template, context)
    try:
        resp = requests.post(
            "https://api.sendgrid.com/v3/mail/send",
            headers={"Authorization": f"Bearer {SENDGRID_API_KEY}"},
            json={
                "personalizations": [{"to": [{"email": user["email"]}]}],
                "from": {"email": "no-reply@example.com"},
                "subject": context.get("subject", "Notification"),
                "content": [{"type": "text/html", "value": body}],
            },
        )
        resp.raise_for_status()
    except Exception as exc:
        raise self.retry(exc=exc, countdown=5)
    sent_messages.append({"user_id": user_id, "template": template})


@app.task(bind=True, max_retries=5)
def charge_subscription(self, subscription_id, customer_id, amount_cents):
    resp = requests.post(
        BILLING_URL,
        json={"customer_id": customer_id, "amount": amount_cents, "reason": subscription_id},
        timeout=10,
    )
    if resp.status_code >= 500:
        raise self.retry(countdown=10)
    return resp.json()


@app.task
def process_event_batch(batch_key):
    raw = r.get(batch_key)
    events = pickle.loads(raw)
    for event in events:
        send_email.delay(event["user_id"], event["template"], event.get("context", {}))
    r.delete(batch_key)


def render(template, context):
    html = r.get(f"templates:{template}")
    if html is None:
        return ""
    return html.decode().format(**context)
