"""RabbitMQ consumer for shipment events published by warehouses and carriers."""
import json
import logging
import os
import pickle

import pika

from app.tasks import apply_event, notify_customer, refresh_from_carrier

logging.basicConfig(level=logging.INFO)
logger = logging.getLogger("logistics.worker")

QUEUE = "shipment-events"
NOTIFY_STATUSES = {"out_for_delivery", "delivered", "exception"}

_seen_event_ids = set()


def decode(body, properties):
    if properties.content_type == "application/x-python-pickle":
        return pickle.loads(body)
    return json.loads(body)


def handle_event(event):
    event_id = event["event_id"]
    if event_id in _seen_event_ids:
        return
    logger.info(
        "processing event %s for %s (%s, %s)",
        event_id, event["tracking_number"], event.get("customer_name"), event.get("delivery_address"),
    )
    apply_event(event["tracking_number"], event["status"], event.get("location"), event["occurred_at"])
    if event.get("refresh"):
        refresh_from_carrier.send(event["tracking_number"])
    if event["status"] in NOTIFY_STATUSES:
        notify_customer.send(event["tracking_number"], event["status"])
    _seen_event_ids.add(event_id)


def on_message(channel, method, properties, body):
    try:
        event = decode(body, properties)
        handle_event(event)
        channel.basic_ack(delivery_tag=method.delivery_tag)
    except Exception:
        logger.exception("failed to process message, requeueing")
        channel.basic_nack(delivery_tag=method.delivery_tag, requeue=True)


def main():
    params = pika.URLParameters(os.getenv("RABBITMQ_URL", "amqp://guest:guest@localhost:5672/"))
    params.heartbeat = 0
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    channel.queue_declare(queue=QUEUE, durable=True)
    channel.basic_qos(prefetch_count=10)
    channel.basic_consume(queue=QUEUE, on_message_callback=on_message)
    logger.info("waiting for shipment events")
    channel.start_consuming()


if __name__ == "__main__":
    main()
