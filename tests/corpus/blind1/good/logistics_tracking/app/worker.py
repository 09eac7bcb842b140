"""RabbitMQ consumer for shipment events: validated JSON, idempotent, bounded redelivery."""
import json
import logging
import signal
import time
from datetime import datetime

import pika
import psycopg2
from pika.exceptions import AMQPConnectionError, ConnectionClosedByBroker
from pydantic import BaseModel, Field, ValidationError

from app import db
from app.config import get_settings
from app.tasks import notify_customer, refresh_from_carrier

logging.basicConfig(level=logging.INFO,
                    format='{"ts":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}')
logger = logging.getLogger("logistics.worker")

QUEUE = "shipment-events"
DLX = "shipment-events.dlx"
DLQ = "shipment-events.dead"
DELIVERY_LIMIT = 5
NOTIFY_STATUSES = {"out_for_delivery", "delivered", "exception"}
_running = True


class ShipmentEvent(BaseModel):
    event_id: str = Field(min_length=1, max_length=100)
    tracking_number: str = Field(pattern=r"^[A-Z0-9]{6,40}$")
    status: str = Field(pattern=r"^[a-z_]{2,40}$")
    location: str | None = Field(default=None, max_length=200)
    occurred_at: datetime
    refresh: bool = False


def handle_event(event: ShipmentEvent) -> None:
    changed = db.apply_event(event_id=event.event_id, tracking_number=event.tracking_number,
                             status=event.status, location=event.location,
                             occurred_at=event.occurred_at)
    logger.info("event %s for %s applied=%s", event.event_id, event.tracking_number, changed)
    if event.refresh:
        refresh_from_carrier.send(event.tracking_number)
    if changed and event.status in NOTIFY_STATUSES:
        notify_customer.send(event.tracking_number, event.status)


def on_message(channel, method, properties, body):
    try:
        if properties.content_type not in (None, "application/json"):
            raise ValueError(f"unsupported content type {properties.content_type}")
        event = ShipmentEvent.model_validate(json.loads(body))
    except (ValueError, ValidationError):
        logger.warning("dead-lettering malformed message delivery_tag=%s", method.delivery_tag)
        channel.basic_reject(delivery_tag=method.delivery_tag, requeue=False)
        return
    try:
        handle_event(event)
    except (psycopg2.OperationalError, AMQPConnectionError):
        # Transient: requeue. The quorum queue's delivery-limit dead-letters it after N attempts.
        logger.exception("transient failure on event %s, requeueing", event.event_id)
        channel.basic_nack(delivery_tag=method.delivery_tag, requeue=True)
        return
    except Exception:
        logger.exception("unexpected failure on event %s, dead-lettering", event.event_id)
        channel.basic_reject(delivery_tag=method.delivery_tag, requeue=False)
        return
    channel.basic_ack(delivery_tag=method.delivery_tag)


def _declare(channel) -> None:
    channel.exchange_declare(exchange=DLX, exchange_type="fanout", durable=True)
    channel.queue_declare(queue=DLQ, durable=True)
    channel.queue_bind(queue=DLQ, exchange=DLX)
    channel.queue_declare(queue=QUEUE, durable=True, arguments={
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DLX,
    })
    channel.basic_qos(prefetch_count=10)


def _stop(signum, frame):
    global _running
    _running = False
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    params = pika.URLParameters(get_settings().rabbitmq_url)
    params.heartbeat = 30
    params.blocked_connection_timeout = 60
    params.connection_attempts = 3
    params.retry_delay = 2
    backoff = 1
    while _running:
        try:
            connection = pika.BlockingConnection(params)
            channel = connection.channel()
            _declare(channel)
            channel.basic_consume(queue=QUEUE, on_message_callback=on_message)
            logger.info("consuming %s", QUEUE)
            backoff = 1
            channel.start_consuming()
        except (AMQPConnectionError, ConnectionClosedByBroker):
            logger.exception("broker connection lost, reconnecting in %ss", backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, 60)
        except KeyboardInterrupt:
            logger.info("shutting down consumer")
            break


if __name__ == "__main__":
    main()
