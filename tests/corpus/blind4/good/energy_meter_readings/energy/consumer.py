import json
import logging
import os
import signal

from confluent_kafka import Consumer, KafkaException, Producer

from energy.db import ADD_TO_TOTAL, INSERT_READING, _require_env, transaction

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
logger = logging.getLogger("energy.consumer")

TOPIC = os.environ.get("READINGS_TOPIC", "meter-readings")
DLQ_TOPIC = os.environ.get("READINGS_DLQ_TOPIC", "meter-readings.dlq")


def kafka_config():
    return {
        "bootstrap.servers": _require_env("KAFKA_BOOTSTRAP"),
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "PLAIN",
        "sasl.username": _require_env("KAFKA_USERNAME"),
        "sasl.password": _require_env("KAFKA_PASSWORD"),
    }


class InvalidReading(ValueError):
    pass


def parse_reading(raw):
    try:
        data = json.loads(raw)
        meter_id = str(data["meter_id"])[:64]
        kwh = float(data["kwh"])
        voltage = float(data.get("voltage", 0))
        ts = str(data["ts"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidReading(str(exc)) from exc
    if not (0 <= kwh < 1_000_000) or not (0 <= voltage < 1000):
        raise InvalidReading("value out of range")
    return meter_id, ts, kwh, voltage


def store_reading(meter_id, ts, kwh, voltage):
    """Insert and total update commit together; redelivery is a no-op via ON CONFLICT."""
    with transaction() as cur:
        cur.execute("SELECT 1 FROM meters WHERE id = %s", (meter_id,))
        if cur.fetchone() is None:
            raise InvalidReading(f"unknown meter {meter_id}")
        cur.execute(INSERT_READING, (meter_id, ts, kwh, voltage))
        if cur.rowcount == 1:
            cur.execute(ADD_TO_TOTAL, (kwh, meter_id))


def run():
    consumer = Consumer({**kafka_config(), "group.id": "meter-readings",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    dlq = Producer({**kafka_config(), "enable.idempotence": True})
    running = True

    def stop(signum, _frame):
        nonlocal running
        logger.info("received signal %s, shutting down", signum)
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    consumer.subscribe([TOPIC])
    logger.info("consumer started topic=%s", TOPIC)
    try:
        while running:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().fatal():
                    raise KafkaException(msg.error())
                logger.warning("kafka error: %s", msg.error())
                continue
            try:
                store_reading(*parse_reading(msg.value()))
            except InvalidReading as exc:
                logger.warning("invalid reading partition=%s offset=%s: %s",
                               msg.partition(), msg.offset(), exc)
                dlq.produce(DLQ_TOPIC, msg.value(), headers={"error": str(exc)})
                dlq.flush(10)
            # Transient DB errors propagate: the process exits without committing the offset
            # and the orchestrator restarts it, so the message is re-processed (idempotently).
            consumer.commit(message=msg, asynchronous=False)
    finally:
        consumer.close()
        dlq.flush(10)


if __name__ == "__main__":
    run()
