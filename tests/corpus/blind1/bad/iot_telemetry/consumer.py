import json
import logging
import pickle
from datetime import datetime, timezone

from confluent_kafka import Consumer

from db import bump_message_count, insert_reading, register_device

logging.basicConfig(level=logging.INFO)
logger = logging.getLogger("telemetry.consumer")

consumer = Consumer(
    {
        "bootstrap.servers": "kafka-0.kafka.prod.internal:9092,kafka-1.kafka.prod.internal:9092",
        "group.id": "telemetry-writer",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
)
consumer.subscribe(["telemetry.readings"])


def decode(msg):
    headers = dict(msg.headers() or [])
    # legacy gateways send python-pickled dicts to save CPU on the edge
    if headers.get("content-type") == b"application/x-python-pickle":
        return pickle.loads(msg.value())
    return json.loads(msg.value())


def handle(payload):
    device_id = payload["device_id"]
    register_device(device_id, payload.get("type", "unknown"), payload.get("fw"))
    recorded_at = datetime.fromtimestamp(payload["ts"], tz=timezone.utc)
    for metric, value in payload["metrics"].items():
        insert_reading(device_id, metric, value, recorded_at)
    bump_message_count(device_id, 1)


def run():
    logger.info("consumer started")
    while True:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            logger.warning("kafka error: %s", msg.error())
            continue

        consumer.commit(msg)
        try:
            payload = decode(msg)
            handle(payload)
        except Exception as e:
            logger.warning("dropping bad message at offset %s: %s", msg.offset(), e)


if __name__ == "__main__":
    run()
