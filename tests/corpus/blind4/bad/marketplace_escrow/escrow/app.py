import pickle

import pika
import psycopg
from flask import Flask, jsonify, request

from escrow.payments import charge_buyer, payout_seller

app = Flask(__name__)

db = psycopg.connect("postgresql://escrow:escrow@db.internal:5432/escrow", autocommit=True)

mq_conn = pika.BlockingConnection(pika.ConnectionParameters("rabbitmq.internal"))
mq_channel = mq_conn.channel()
mq_channel.queue_declare(queue="escrow-events")


def publish_event(kind, data):
    mq_channel.basic_publish(
        exchange="", routing_key="escrow-events", body=pickle.dumps({"kind": kind, "data": data})
    )


def _escrow_row(escrow_id):
    return db.execute(
        "SELECT id, buyer_id, seller_id, amount_cents, status, charge_id FROM escrows WHERE id = %s",
        (escrow_id,),
    ).fetchone()


@app.post("/escrows")
def create_escrow():
    data = request.get_json()
    amount = data["amount_cents"]
    charge = charge_buyer(data["buyer_id"], amount, data["card_token"])
    row = db.execute(
        "INSERT INTO escrows (buyer_id, seller_id, amount_cents, status, charge_id) "
        "VALUES (%s, %s, %s, 'funded', %s) RETURNING id",
        (data["buyer_id"], data["seller_id"], amount, charge.get("id")),
    ).fetchone()
    publish_event("funded", {"escrow_id": row[0], "amount": amount})
    return jsonify({"id": row[0], "status": "funded", "charge": charge}), 201


@app.post("/escrows/<int:escrow_id>/release")
def release_escrow(escrow_id):
    escrow = _escrow_row(escrow_id)
    if escrow[4] != "funded":
        return jsonify({"error": "escrow not releasable"}), 409
    seller = db.execute(
        "SELECT payout_account, balance_cents FROM sellers WHERE id = %s", (escrow[2],)
    ).fetchone()
    payout = payout_seller(seller[0], escrow[3], escrow_id)
    db.execute("UPDATE escrows SET status = 'released' WHERE id = %s", (escrow_id,))
    db.execute(
        "UPDATE sellers SET balance_cents = %s WHERE id = %s", (seller[1] + escrow[3], escrow[2])
    )
    publish_event("released", {"escrow_id": escrow_id, "payout": payout})
    return jsonify({"status": "released", "payout": payout})


@app.get("/escrows")
def list_escrows():
    status = request.args.get("status", "funded")
    sort = request.args.get("sort", "id")
    rows = db.execute(
        f"SELECT id, buyer_id, seller_id, amount_cents, status FROM escrows "
        f"WHERE status = %s ORDER BY {sort}",
        (status,),
    ).fetchall()
    return jsonify([list(r) for r in rows])


@app.post("/webhooks/payments")
def payment_webhook():
    event = request.get_json()
    if event["type"] == "charge.refunded":
        db.execute(
            "UPDATE escrows SET status = 'refunded' WHERE charge_id = %s", (event["data"]["id"],)
        )
    return "", 204


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=8000)
