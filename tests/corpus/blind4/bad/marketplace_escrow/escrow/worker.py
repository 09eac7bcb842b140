import pickle

import pika

from escrow.app import db
from escrow.payments import refund_charge


def handle_event(event):
    kind = event["kind"]
    data = event["data"]
    if kind == "dispute_lost":
        row = db.execute(
            "SELECT charge_id FROM escrows WHERE id = %s", (data["escrow_id"],)
        ).fetchone()
        refund_charge(row[0])
        db.execute("UPDATE escrows SET status = 'refunded' WHERE id = %s", (data["escrow_id"],))
    elif kind == "released":
        db.execute(
            "INSERT INTO escrow_audit (escrow_id, note) VALUES (%s, %s)",
            (data["escrow_id"], f"payout {data['payout']}"),
        )


def on_message(channel, method, properties, body):
    try:
        event = pickle.loads(body)
        handle_event(event)
        channel.basic_ack(delivery_tag=method.delivery_tag)
    except Exception:
        channel.basic_nack(delivery_tag=method.delivery_tag, requeue=True)


def main():
    connection = pika.BlockingConnection(pika.ConnectionParameters("rabbitmq.internal"))
    channel = connection.channel()
    channel.queue_declare(queue="escrow-events")
    channel.basic_consume(queue="escrow-events", on_message_callback=on_message)
    print("worker waiting for events")
    channel.start_consuming()


if __name__ == "__main__":
    main()
