import json
import logging
import math
import os
import signal
import sys
import time
from datetime import datetime, timezone

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from pythonjsonlogger import jsonlogger

import db

handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(jsonlogger.JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), handlers=[handler])
logger = logging.getLogger("telemetry.consumer")

MAX_METRICS = 64
MAX_DB_ATTEMPTS = 5
BATCH_SIZE = 500


class InvalidMessage(ValueError):
    """Permanent problem with a message: route to the dead-letter topic, never retry."""


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is required")
    return value


def decode(raw: bytes) -> dict:
    """JSON only; validates shape and bounds before anything touches the database."""
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage(f"not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidMessage("payload is not an object")
    device_id = payload.get("device_id")
    if not isinstance(device_id, str) or not 1 <= len(device_id) <= 64:
        raise InvalidMessage("device_id missing or invalid")
    ts = payload.get("ts")
    if not isinstance(ts, (int, float)) or not 1_500_000_000 <= ts <= time.time() + 300:
        raise InvalidMessage("ts missing or out of range")
    metrics = payload.get("metrics")
    if not isinstance(metrics, dict) or not 0 < len(metrics) <= MAX_METRICS:
        raise InvalidMessage("metrics missing or too many")
    for name, value in metrics.items():
        if not isinstance(name, str) or len(name) > 64:
            raise InvalidMessage("bad metric name")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidMessage(f"metric {name!r} is not a finite number")
    return payload


class TelemetryWriter:
    def __init__(self):
        brokers = _required_env("KAFKA_BOOTSTRAP_SERVERS")
        self.topic = os.environ.get("TELEMETRY_TOPIC", "telemetry.readings")
        self.dlq_topic = os.environ.get("TELEMETRY_DLQ_TOPIC", "telemetry.readings.dlq")
        self.consumer = Consumer({
            "bootstrap.servers": brokers,
            "group.id": os.environ.get("TELEMETRY_GROUP_ID", "telemetry-writer"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "max.poll.interval.ms": 300_000,
            "session.timeout.ms": 30_000,
        })
        self.dlq = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "acks": "all"})
        self.running = True

    def stop(self, signum, _frame):
        logger.info("shutdown requested", extra={"signal": signum})
        self.running = False

    def _dead_letter(self, msg, reason: str) -> None:
        self.dlq.produce(self.dlq_topic, key=msg.key(), value=msg.value(),
                         headers=[("error", reason.encode()[:512]), ("src_offset", str(msg.offset()).encode())])

    def _persist(self, readings, devices) -> None:
        for attempt in range(1, MAX_DB_ATTEMPTS + 1):
            try:
                db.write_batch(readings, devices)
                return
            except Exception:
                logger.exception("batch write failed", extra={"attempt": attempt, "rows": len(readings)})
                if attempt == MAX_DB_ATTEMPTS:
                    raise
                time.sleep(min(30.0, 0.5 * 2 ** attempt))

    def process(self, messages) -> None:
        readings, devices = [], {}
        for msg in messages:
            try:
                payload = decode(msg.value())
            except InvalidMessage as exc:
                logger.warning("message dead-lettered", extra={"partition": msg.partition(), "offset": msg.offset(), "reason": str(exc)})
                self._dead_letter(msg, str(exc))
                continue
            device_id = payload["device_id"]
            recorded_at = datetime.fromtimestamp(payload["ts"], tz=timezone.utc)
            for metric, value in payload["metrics"].items():
                readings.append((device_id, metric, float(value), recorded_at, msg.partition(), msg.offset()))
            dtype, fw, n = devices.get(device_id, (str(payload.get("type", "unknown"))[:32], payload.get("fw"), 0))
            devices[device_id] = (dtype, fw, n + 1)
        if readings:
            self._persist(readings, devices)
        self.dlq.flush(10)

    def run(self) -> None:
        self.consumer.subscribe([self.topic])
        logger.info("consumer started", extra={"topic": self.topic})
        try:
            while self.running:
                messages = self.consumer.consume(num_messages=BATCH_SIZE, timeout=1.0)
                if not messages:
                    continue
                good = []
                for msg in messages:
                    err = msg.error()
                    if err is None:
                        good.append(msg)
                    elif err.code() != KafkaError._PARTITION_EOF:
                        raise KafkaException(err)
                self.process(good)
                # Commit only after the batch is durably written (at-least-once; inserts are idempotent).
                self.consumer.commit(asynchronous=False)
        finally:
            self.consumer.close()
            self.dlq.flush(10)
            logger.info("consumer stopped")


def main() -> int:
    db.init_pool(db.DbConfig.from_env())
    writer = TelemetryWriter()
    signal.signal(signal.SIGTERM, writer.stop)
    signal.signal(signal.SIGINT, writer.stop)
    try:
        writer.run()
    except Exception:
        logger.exception("consumer crashed; exiting so the orchestrator restarts it without committing")
        return 1
    finally:
        db.close_pool()
    return 0


if __name__ == "__main__":
    sys.exit(main())
