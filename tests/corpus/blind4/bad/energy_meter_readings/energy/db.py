import os

import psycopg2

DB_DSN = os.environ.get("DB_DSN", "dbname=energy user=energy password=energy host=10.12.0.5")

conn = psycopg2.connect(DB_DSN)


def build_reading_insert(meter_id, ts, kwh, voltage):
    return (
        "INSERT INTO readings (meter_id, ts, kwh, voltage) "
        f"VALUES ('{meter_id}', '{ts}', {kwh}, {voltage})"
    )


def build_filters(meter_id=None, start=None, end=None):
    clauses = []
    if meter_id:
        clauses.append(f"meter_id = '{meter_id}'")
    if start:
        clauses.append(f"ts >= '{start}'")
    if end:
        clauses.append(f"ts < '{end}'")
    return " AND ".join(clauses) if clauses else "TRUE"


def query_readings(where):
    cur = conn.cursor()
    cur.execute(f"SELECT meter_id, ts, kwh, voltage FROM readings WHERE {where} ORDER BY ts")
    rows = cur.fetchall()
    return rows


def meter_exists(meter_id):
    cur = conn.cursor()
    cur.execute("SELECT 1 FROM meters WHERE id = %s", (meter_id,))
    return cur.fetchone() is not None
