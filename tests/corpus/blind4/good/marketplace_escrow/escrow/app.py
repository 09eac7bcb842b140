import hashlib
import hmac
import json
import logging

import pika
from flask import Flask, abort, g, jsonify, request
from psycopg_pool import ConnectionPool

from escrow.config import Settings
from escrow.payments import PaymentError, PaymentsClient

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
logger = logging.getLogger("escrow")
settings = Settings.from_env()
pool = ConnectionPool(settings.database_url, min_size=1, max_size=10, timeout=5, open=True,
                      kwargs={"options": "-c statement_timeout=10000"})
payments = PaymentsClient(settings.payments_base_url, settings.payments_api_key)
SORTABLE = {"id": "id", "amount": "amount_cents", "created": "created_at"}
app = Flask(__name__)


def publish_event(kind, data):
    """Short-lived connection per publish: pika connections are not thread-safe."""
    params = pika.URLParameters(settings.amqp_url)
    params.socket_timeout = 5
    with pika.BlockingConnection(params) as conn:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.queue_declare(queue="escrow-events", durable=True,
                         arguments={"x-dead-letter-exchange": "escrow-dlx"})
        ch.basic_publish(exchange="", routing_key="escrow-events",
                         body=json.dumps({"kind": kind, "data": data}),
                         properties=pika.BasicProperties(delivery_mode=2, content_type="application/json"))


@app.before_request
def authenticate():
    if request.path in ("/healthz", "/readyz", "/webhooks/payments"):
        return
    user_id = request.headers.get("X-Authenticated-User")  # set by the auth gateway after JWT check
    if not user_id or not user_id.isdigit():
        abort(401)
    g.user_id = int(user_id)


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.get("/readyz")
def readyz():
    try:
        with pool.connection() as conn:
            conn.execute("SELECT 1")
    except Exception:
        logger.exception("readiness check failed")
        return {"status": "unavailable"}, 503
    return {"status": "ready"}


@app.post("/escrows")
def create_escrow():
    key = request.headers.get("Idempotency-Key", "")
    if not 8 <= len(key) <= 64:
        abort(400, "Idempotency-Key header required")
    data = request.get_json(silent=True) or {}
    amount, seller_id, card = data.get("amount_cents"), data.get("seller_id"), data.get("card_token")
    if not isinstance(amount, int) or not 100 <= amount <= settings.max_amount_cents:
        abort(400, f"amount_cents must be an integer between 100 and {settings.max_amount_cents}")
    if not isinstance(seller_id, int) or not isinstance(card, str) or not card:
        abort(400, "seller_id and card_token are required")
    with pool.connection() as conn:
        row = conn.execute(
            "INSERT INTO escrows (buyer_id, seller_id, amount_cents, status, idempotency_key) "
            "VALUES (%s, %s, %s, 'pending', %s) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            (g.user_id, seller_id, amount, key),
        ).fetchone()
        if row is None:
            existing = conn.execute("SELECT id, status FROM escrows WHERE idempotency_key = %s AND buyer_id = %s",
                                    (key, g.user_id)).fetchone()
            if existing is None:
                abort(409, "idempotency key already used")
            return jsonify({"id": existing[0], "status": existing[1]}), 200
    escrow_id = row[0]
    try:
        charge = payments.charge_buyer(g.user_id, amount, card, idempotency_key=f"charge-{key}")
    except PaymentError:
        with pool.connection() as conn:
            conn.execute("UPDATE escrows SET status = 'charge_failed' WHERE id = %s", (escrow_id,))
        return jsonify({"id": escrow_id, "status": "charge_failed"}), 402
    with pool.connection() as conn:
        conn.execute("UPDATE escrows SET status = 'funded', charge_id = %s WHERE id = %s AND status = 'pending'",
                     (charge["id"], escrow_id))
    publish_event("funded", {"escrow_id": escrow_id, "amount": amount})
    logger.info("escrow funded id=%s", escrow_id)
    return jsonify({"id": escrow_id, "status": "funded"}), 201


@app.post("/escrows/<int:escrow_id>/release")
def release_escrow(escrow_id):
    with pool.connection() as conn, conn.transaction():
        escrow = conn.execute(
            "UPDATE escrows SET status = 'releasing' WHERE id = %s AND buyer_id = %s AND status = 'funded' "
            "RETURNING seller_id, amount_cents", (escrow_id, g.user_id),
        ).fetchone()
        if escrow is None:
            abort(409, "escrow not found or not releasable")
        seller_id, amount = escrow
        account = conn.execute("SELECT payout_account FROM sellers WHERE id = %s", (seller_id,)).fetchone()[0]
    try:
        payout = payments.payout_seller(account, amount, escrow_id)  # idempotent per escrow id
    except PaymentError:
        logger.exception("payout failed escrow=%s; left in 'releasing' for reconciliation", escrow_id)
        return jsonify({"id": escrow_id, "status": "releasing"}), 202
    with pool.connection() as conn, conn.transaction():
        conn.execute("UPDATE escrows SET status = 'released', payout_id = %s WHERE id = %s",
                     (payout["id"], escrow_id))
        conn.execute("UPDATE sellers SET balance_cents = balance_cents + %s WHERE id = %s", (amount, seller_id))
    publish_event("released", {"escrow_id": escrow_id, "payout_id": payout["id"]})
    return jsonify({"id": escrow_id, "status": "released"})


@app.get("/escrows")
def list_escrows():
    status = request.args.get("status", "funded")
    sort = SORTABLE.get(request.args.get("sort", "id"))
    if sort is None:
        abort(400, f"sort must be one of {sorted(SORTABLE)}")
    limit = min(max(request.args.get("limit", 50, type=int), 1), 200)
    after_id = request.args.get("after_id", 0, type=int)
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT id, buyer_id, seller_id, amount_cents, status FROM escrows "
            f"WHERE status = %s AND id > %s AND (buyer_id = %s OR seller_id = %s) ORDER BY {sort}, id LIMIT %s",
            (status, after_id, g.user_id, g.user_id, limit),
        ).fetchall()
    keys = ("id", "buyer_id", "seller_id", "amount_cents", "status")
    return jsonify([dict(zip(keys, r)) for r in rows])


@app.post("/webhooks/payments")
def payment_webhook():
    signature = request.headers.get("X-Signature", "")
    expected = hmac.new(settings.webhook_secret.encode(), request.get_data(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, expected):
        abort(401)
    event = request.get_json()
    if event.get("type") == "charge.refunded":
        with pool.connection() as conn:
            conn.execute("UPDATE escrows SET status = 'refunded' WHERE charge_id = %s AND status <> 'refunded'",
                         (event["data"]["id"],))
    return "", 204
