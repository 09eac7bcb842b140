import json
import logging
import signal

import pika
from psycopg_pool import ConnectionPool

from escrow.config import Settings
from escrow.payments import PaymentsClient

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
logger = logging.getLogger("escrow.worker")
MAX_ATTEMPTS = 5


class PermanentError(Exception):
    pass


def handle_event(pool, payments, event):
    kind, data = event["kind"], event["data"]
    if kind == "dispute_lost":
        escrow_id = int(data["escrow_id"])
        with pool.connection() as conn:
            row = conn.execute("SELECT charge_id, status FROM escrows WHERE id = %s", (escrow_id,)).fetchone()
        if row is None:
            raise PermanentError(f"unknown escrow {escrow_id}")
        if row[1] == "refunded":
            return
        payments.refund_charge(row[0], escrow_id)  # idempotency key refund-<escrow_id>
        with pool.connection() as conn:
            conn.execute("UPDATE escrows SET status = 'refunded' WHERE id = %s", (escrow_id,))
    elif kind == "released":
        with pool.connection() as conn:
            conn.execute(
                "INSERT INTO escrow_audit (escrow_id, note) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (int(data["escrow_id"]), f"payout {data['payout_id']}"),
            )


def make_callback(pool, payments):
    def on_message(channel, method, properties, body):
        attempts = int((properties.headers or {}).get("x-attempts", 0)) + 1
        try:
            event = json.loads(body)
            handle_event(pool, payments, event)
        except (ValueError, KeyError, PermanentError):
            logger.exception("dropping invalid event to DLQ tag=%s", method.delivery_tag)
            channel.basic_nack(delivery_tag=method.delivery_tag, requeue=False)
            return
        except Exception:
            logger.exception("event failed attempt=%s", attempts)
            if attempts >= MAX_ATTEMPTS:
                channel.basic_nack(delivery_tag=method.delivery_tag, requeue=False)
            else:
                channel.basic_publish(exchange="escrow-retry", routing_key="escrow-events", body=body,
                                      properties=pika.BasicProperties(delivery_mode=2,
                                                                      headers={"x-attempts": attempts}))
                channel.basic_ack(delivery_tag=method.delivery_tag)
            return
        channel.basic_ack(delivery_tag=method.delivery_tag)
    return on_message


def main():
    settings = Settings.from_env()
    pool = ConnectionPool(settings.database_url, min_size=1, max_size=4, timeout=5)
    payments = PaymentsClient(settings.payments_base_url, settings.payments_api_key)
    params = pika.URLParameters(settings.amqp_url)
    params.heartbeat = 30
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    channel.exchange_declare("escrow-dlx", exchange_type="fanout", durable=True)
    channel.queue_declare(queue="escrow-events.dlq", durable=True)
    channel.queue_bind("escrow-events.dlq", "escrow-dlx")
    # escrow-retry routes into a TTL queue that dead-letters back to escrow-events (delayed retry).
    channel.exchange_declare("escrow-retry", exchange_type="direct", durable=True)
    channel.queue_declare(queue="escrow-events.retry", durable=True, arguments={
        "x-message-ttl": 30000, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "escrow-events"})
    channel.queue_bind("escrow-events.retry", "escrow-retry", routing_key="escrow-events")
    channel.queue_declare(queue="escrow-events", durable=True, arguments={"x-dead-letter-exchange": "escrow-dlx"})
    channel.basic_qos(prefetch_count=10)
    channel.basic_consume(queue="escrow-events", on_message_callback=make_callback(pool, payments))
    signal.signal(signal.SIGTERM, lambda *_: channel.stop_consuming())
    logger.info("worker waiting for events")
    try:
        channel.start_consuming()
    finally:
        connection.close()
        pool.close()


if __name__ == "__main__":
    main()
