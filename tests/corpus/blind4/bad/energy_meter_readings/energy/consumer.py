import json

from confluent_kafka import Consumer

from energy.db import build_reading_insert, conn, meter_exists

consumer = Consumer(
    {
        "bootstrap.servers": "kafka-0.kafka.internal:9092",
        "group.id": "meter-readings",
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "PLAIN",
        "sasl.username": "meter-ingest",
        "sasl.password": "Kf9!meterIngest2024",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
)
consumer.subscribe(["meter-readings"])


def add_to_meter_total(meter_id, kwh):
    cur = conn.cursor()
    cur.execute("SELECT total_kwh FROM meters WHERE id = %s", (meter_id,))
    total = cur.fetchone()[0]
    cur.execute("UPDATE meters SET total_kwh = %s WHERE id = %s", (total + kwh, meter_id))
    conn.commit()


def store_reading(reading):
    meter_id = reading["meter_id"]
    if not meter_exists(meter_id):
        print("unknown meter", meter_id)
        return
    cur = conn.cursor()
    cur.execute(
        "SELECT 1 FROM readings WHERE meter_id = %s AND ts = %s", (meter_id, reading["ts"])
    )
    if cur.fetchone() is None:
        cur.execute(
            build_reading_insert(meter_id, reading["ts"], reading["kwh"], reading.get("voltage", 0))
        )
        conn.commit()
        add_to_meter_total(meter_id, reading["kwh"])


def run():
    print("consumer started")
    while True:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            print("kafka error", msg.error())
            continue
        consumer.commit(message=msg, asynchronous=False)
        try:
            reading = json.loads(msg.value())
            store_reading(reading)
        except Exception as e:
            print("failed to process message", e)


if __name__ == "__main__":
    run()
