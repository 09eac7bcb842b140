import logging
import os
from contextlib import contextmanager
from datetime import datetime

from psycopg2.pool import ThreadedConnectionPool

logger = logging.getLogger(__name__)


def _require_env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"missing required environment variable {name}")
    return value


_pool = None


def pool():
    global _pool
    if _pool is None:
        _pool = ThreadedConnectionPool(
            1, int(os.environ.get("DB_POOL_MAX", "10")), _require_env("DB_DSN"),
            connect_timeout=5, options="-c statement_timeout=15000",
        )
    return _pool


@contextmanager
def transaction():
    """Borrow a pooled connection; commit on success, roll back on any error."""
    conn = pool().getconn()
    try:
        with conn:
            with conn.cursor() as cur:
                yield cur
    finally:
        pool().putconn(conn)


INSERT_READING = (
    "INSERT INTO readings (meter_id, ts, kwh, voltage) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (meter_id, ts) DO NOTHING"
)
ADD_TO_TOTAL = "UPDATE meters SET total_kwh = total_kwh + %s WHERE id = %s"


def build_filters(meter_id=None, start=None, end=None):
    """Return a WHERE fragment with placeholders and its parameters."""
    clauses, params = [], []
    if meter_id:
        clauses.append("meter_id = %s")
        params.append(meter_id)
    if start:
        clauses.append("ts >= %s")
        params.append(start)
    if end:
        clauses.append("ts < %s")
        params.append(end)
    return (" AND ".join(clauses) if clauses else "TRUE"), params


def query_readings(where, params, limit, after=None):
    sql = "SELECT meter_id, ts, kwh, voltage FROM readings WHERE " + where
    if after is not None:
        sql += " AND ts > %s"
        params = [*params, after]
    sql += " ORDER BY ts LIMIT %s"
    with transaction() as cur:
        cur.execute(sql, [*params, limit])
        return cur.fetchall()


def parse_ts(value):
    return datetime.fromisoformat(value) if value else None
