import psycopg2
from psycopg2.extras import RealDictCursor

DB_DSN = "host=timescale.prod.internal port=5432 dbname=telemetry user=telemetry password=t3lem3try!2024"

# one connection for the whole process (consumer loop and Flask request threads)
conn = psycopg2.connect(DB_DSN)

_device_cache = {}


def get_device(device_id):
    if device_id in _device_cache:
        return _device_cache[device_id]
    cur = conn.cursor(cursor_factory=RealDictCursor)
    cur.execute("SELECT * FROM devices WHERE device_id = %s", (device_id,))
    row = cur.fetchone()
    _device_cache[device_id] = row
    return row


def register_device(device_id, device_type, firmware):
    cur = conn.cursor()
    cur.execute("SELECT 1 FROM devices WHERE device_id = %s", (device_id,))
    if cur.fetchone() is None:
        cur.execute(
            "INSERT INTO devices (device_id, device_type, firmware, message_count, last_seen) "
            "VALUES (%s, %s, %s, 0, now())",
            (device_id, device_type, firmware),
        )
    conn.commit()


def insert_reading(device_id, metric, value, recorded_at):
    cur = conn.cursor()
    cur.execute(
        "INSERT INTO readings (device_id, metric, value, recorded_at) VALUES (%s, %s, %s, %s)",
        (device_id, metric, value, recorded_at),
    )
    conn.commit()


def bump_message_count(device_id, n=1):
    cur = conn.cursor()
    cur.execute("SELECT message_count FROM devices WHERE device_id = %s", (device_id,))
    count = cur.fetchone()[0]
    cur.execute(
        "UPDATE devices SET message_count = %s, last_seen = now() WHERE device_id = %s",
        (count + n, device_id),
    )
    conn.commit()


def query_readings(device_id, metric=None, since=None, order="recorded_at DESC", limit=None):
    sql = f"SELECT device_id, metric, value, recorded_at FROM readings WHERE device_id = '{device_id}'"
    if metric:
        sql += f" AND metric = '{metric}'"
    if since:
        sql += f" AND recorded_at >= '{since}'"
    sql += f" ORDER BY {order}"
    if limit:
        sql += f" LIMIT {limit}"
    cur = conn.cursor(cursor_factory=RealDictCursor)
    cur.execute(sql)
    return cur.fetchall()


def delete_device(device_id):
    cur = conn.cursor()
    cur.execute("DELETE FROM readings WHERE device_id = %s", (device_id,))
    conn.commit()
    cur.execute("DELETE FROM devices WHERE device_id = %s", (device_id,))
    conn.commit()
    _device_cache.pop(device_id, None)
