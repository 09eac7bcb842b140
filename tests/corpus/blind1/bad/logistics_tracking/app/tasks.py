"""Shipment storage, carrier API clients and Dramatiq actors."""
import logging
import os
import time

import dramatiq
import psycopg2
import psycopg2.extras
import requests
from dramatiq.brokers.rabbitmq import RabbitmqBroker

logger = logging.getLogger("logistics")

broker = RabbitmqBroker(url=os.getenv("RABBITMQ_URL", "amqp://guest:guest@localhost:5672/"))
dramatiq.set_broker(broker)

conn = psycopg2.connect(os.getenv("DATABASE_URL", "postgresql://localhost/logistics"))
conn.autocommit = True

CARRIER_URLS = {
    "dhl": "http://10.2.0.8:9000/dhl-proxy/track",
    "ups": "https://onlinetools.ups.com/track/v1/details",
    "fedex": "http://10.2.0.9:9000/fedex-proxy/track",
}
CARRIER_KEYS = {
    "dhl": "dhl_prod_8f2a9c71e4b3",
    "ups": "UPS-1Z7734-LIVE-KEY",
    "fedex": "fedex_live_c0ffee4411",
}
SMS_API_URL = "https://sms.example-gateway.com/v2/send"


def query(sql, params=None):
    cur = conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)
    cur.execute(sql, params)
    if cur.description:
        return cur.fetchall()
    return []


def build_shipment_filter(status=None, carrier=None, customer=None):
    clauses = []
    if status:
        clauses.append(f"status = '{status}'")
    if carrier:
        clauses.append(f"carrier = '{carrier}'")
    if customer:
        clauses.append(f"customer_ref = '{customer}'")
    where = " AND ".join(clauses) if clauses else "TRUE"
    return f"SELECT * FROM shipments WHERE {where} ORDER BY updated_at DESC LIMIT 500"


def find_shipments(status=None, carrier=None, customer=None):
    return query(build_shipment_filter(status, carrier, customer))


def get_shipment(tracking_number):
    rows = query("SELECT * FROM shipments WHERE tracking_number = %s", (tracking_number,))
    return rows[0] if rows else None


def apply_event(tracking_number, status, location, occurred_at):
    query(
        "INSERT INTO shipment_events (tracking_number, status, location, occurred_at) "
        "VALUES (%s, %s, %s, %s)",
        (tracking_number, status, location, occurred_at),
    )
    query(
        "UPDATE shipments SET status = %s, last_location = %s, updated_at = now() "
        "WHERE tracking_number = %s",
        (status, location, tracking_number),
    )


def fetch_carrier_status(carrier, tracking_number, url=None):
    target = url or CARRIER_URLS[carrier]
    while True:
        resp = requests.get(
            target,
            params={"tracking_number": tracking_number},
            headers={"X-Api-Key": CARRIER_KEYS[carrier]},
        )
        if resp.status_code < 500:
            return resp.json()
        time.sleep(1)


@dramatiq.actor
def refresh_from_carrier(tracking_number, url=None):
    shipment = get_shipment(tracking_number)
    data = fetch_carrier_status(shipment["carrier"], tracking_number, url)
    for ev in data.get("events", []):
        apply_event(tracking_number, ev["status"], ev.get("location"), ev["timestamp"])


@dramatiq.actor
def notify_customer(tracking_number, status):
    shipment = get_shipment(tracking_number)
    resp = requests.post(SMS_API_URL, json={
        "to": shipment["customer_phone"],
        "text": f"Your parcel {tracking_number} is now {status}.",
    }, timeout=10)
    resp.raise_for_status()
    query(
        "UPDATE shipments SET notified_status = %s WHERE tracking_number = %s",
        (status, tracking_number),
    )


@dramatiq.actor
def archive_delivered():
    try:
        query("INSERT INTO shipments_archive SELECT * FROM shipments WHERE status = 'delivered'")
        query("DELETE FROM shipments WHERE status = 'delivered'")
    except Exception:
        pass
