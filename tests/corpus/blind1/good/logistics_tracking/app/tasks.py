"""Dramatiq actors: carrier refresh, customer notification, archiving."""
import hashlib
import logging
from datetime import datetime

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import TimeLimit

from app import db
from app.carriers import CarrierRejected, CarrierUnavailable, fetch_carrier_status, send_sms
from app.config import get_settings

logger = logging.getLogger("logistics.tasks")

broker = RabbitmqBroker(url=get_settings().rabbitmq_url)
broker.add_middleware(TimeLimit(time_limit=60_000))
dramatiq.set_broker(broker)


def _transient(retries_so_far, exc):
    return isinstance(exc, (CarrierUnavailable, ConnectionError, TimeoutError))


@dramatiq.actor(max_retries=6, min_backoff=5_000, max_backoff=600_000, retry_when=_transient,
                time_limit=30_000)
def refresh_from_carrier(tracking_number: str) -> None:
    shipment = db.get_shipment(tracking_number)
    if shipment is None:
        logger.warning("refresh requested for unknown shipment %s", tracking_number)
        return
    try:
        data = fetch_carrier_status(shipment["carrier"], tracking_number)
    except CarrierRejected:
        logger.exception("carrier rejected tracking lookup for %s", tracking_number)
        return
    applied = 0
    for ev in data.get("events", [])[:500]:
        try:
            event_id = ev.get("id") or hashlib.sha256(
                f"{tracking_number}|{ev['status']}|{ev['timestamp']}".encode()).hexdigest()
            occurred_at = datetime.fromisoformat(ev["timestamp"])
        except (KeyError, TypeError, ValueError):
            logger.warning("skipping malformed carrier event for %s", tracking_number)
            continue
        applied += db.apply_event(event_id=event_id, tracking_number=tracking_number,
                                  status=ev["status"], location=ev.get("location"),
                                  occurred_at=occurred_at)
    logger.info("carrier refresh for %s applied %d events", tracking_number, applied)


@dramatiq.actor(max_retries=5, min_backoff=10_000, max_backoff=300_000, retry_when=_transient,
                time_limit=30_000)
def notify_customer(tracking_number: str, status: str) -> None:
    if not db.claim_notification(tracking_number, status):
        return  # already sent (or being sent) for this status
    shipment = db.get_shipment(tracking_number, include_contact=True)
    if shipment is None or not shipment["customer_phone"]:
        db.finish_notification(tracking_number, status, "skipped")
        return
    try:
        send_sms(shipment["customer_phone"], f"Your parcel {tracking_number} is now {status}.",
                 idempotency_key=f"{tracking_number}:{status}")
    except CarrierUnavailable:
        db.finish_notification(tracking_number, status, "failed")  # allows the retry to re-claim
        raise
    except CarrierRejected:
        logger.exception("sms rejected for shipment %s", tracking_number)
        db.finish_notification(tracking_number, status, "rejected")
        return
    db.finish_notification(tracking_number, status, "sent")


@dramatiq.actor(max_retries=3, time_limit=120_000)
def archive_delivered() -> None:
    moved = db.archive_delivered()
    logger.info("archived %d delivered shipments", moved)
