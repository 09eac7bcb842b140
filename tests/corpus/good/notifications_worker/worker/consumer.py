import json
import logging
import logging.config
import os
import signal
from typing import Annotated, Literal

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from worker.settings import settings
from worker.tasks import charge_subscription, send_email

logger = logging.getLogger("notifications.consumer")


class Signup(BaseModel):
    type: Literal["user.signup"]
    event_id: str
    user_id: int
    name: str = ""


class Renewal(BaseModel):
    type: Literal["subscription.renewal"]
    event_id: str
    subscription_id: str
    period: str
    customer_id: str
    amount: int = Field(gt=0)


class PasswordReset(BaseModel):
    type: Literal["password.reset"]
    event_id: str
    user_id: int
    link: str


Event = TypeAdapter(Annotated[Signup | Renewal | PasswordReset, Field(discriminator="type")])


def handle(event: Signup | Renewal | PasswordReset) -> None:
    if isinstance(event, Signup):
        send_email.delay(event.event_id, event.user_id, "welcome", {"name": event.name})
    elif isinstance(event, Renewal):
        charge_subscription.delay(
            event.subscription_id, event.period, event.customer_id, event.amount
        )
    else:
        send_email.delay(event.event_id, event.user_id, "password_reset", {"link": event.link})


def main() -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "formatters": {
                "json": {
                    "()": "pythonjsonlogger.jsonlogger.JsonFormatter",
                    "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                }
            },
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
            "root": {"level": os.environ.get("LOG_LEVEL", "INFO"), "handlers": ["stderr"]},
        }
    )
    consumer = KafkaConsumer(
        "user-events",
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id="notifications",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=100,
        request_timeout_ms=30_000,
    )
    dead_letters = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", request_timeout_ms=10_000
    )
    running = True

    def stop(signum: int, frame: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    logger.info("consumer started")
    try:
        while running:
            batch = consumer.poll(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    try:
                        event = Event.validate_json(record.value)
                    except ValidationError:
                        logger.warning(
                            "invalid event sent to dead-letter topic",
                            extra={"partition": record.partition, "offset": record.offset},
                        )
                        dead_letters.send("user-events.dlq", record.value).get(timeout=10)
                        continue
                    handle(event)
            # Commit only after every record of the batch was handed to Celery (at-least-once;
            # the tasks are idempotent).
            if batch:
                consumer.commit()
    except KafkaError:
        logger.exception("kafka failure, exiting so the pod restarts")
        raise
    finally:
        consumer.close()
        dead_letters.close(timeout=10)
        logger.info("consumer stopped")


if __name__ == "__main__":
    main()
