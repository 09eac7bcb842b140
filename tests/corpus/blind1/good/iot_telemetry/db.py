import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from cachetools import TTLCache
from psycopg2 import sql
from psycopg2.extras import RealDictCursor, execute_values
from psycopg2.pool import ThreadedConnectionPool

logger = logging.getLogger("telemetry.db")


@dataclass(frozen=True)
class DbConfig:
    dsn: str
    pool_min: int
    pool_max: int
    statement_timeout_ms: int

    @classmethod
    def from_env(cls) -> "DbConfig":
        dsn = os.environ.get("TELEMETRY_DB_DSN")
        if not dsn:
            raise RuntimeError("TELEMETRY_DB_DSN is required (inject it from a secret)")
        pool_max = int(os.environ.get("TELEMETRY_DB_POOL_MAX", "10"))
        timeout = int(os.environ.get("TELEMETRY_DB_STATEMENT_TIMEOUT_MS", "5000"))
        if not 1 <= pool_max <= 100 or not 100 <= timeout <= 60_000:
            raise RuntimeError("TELEMETRY_DB_POOL_MAX must be 1..100 and statement timeout 100..60000 ms")
        return cls(dsn=dsn, pool_min=1, pool_max=pool_max, statement_timeout_ms=timeout)


_pool: ThreadedConnectionPool | None = None
_pool_lock = threading.Lock()


def init_pool(cfg: DbConfig) -> None:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadedConnectionPool(
                cfg.pool_min, cfg.pool_max, cfg.dsn,
                connect_timeout=5, application_name="telemetry",
                options=f"-c statement_timeout={cfg.statement_timeout_ms}",
            )


def close_pool() -> None:
    with _pool_lock:
        if _pool is not None:
            _pool.closeall()


@contextmanager
def transaction():
    """Borrow a pooled connection; commit on success, roll back on any error, always return it."""
    if _pool is None:
        raise RuntimeError("init_pool() was not called")
    conn = _pool.getconn()
    broken = False
    try:
        yield conn
        conn.commit()
    except Exception:
        try:
            conn.rollback()
        except Exception:
            broken = True
        raise
    finally:
        _pool.putconn(conn, close=broken or conn.closed != 0)


_device_cache: TTLCache = TTLCache(maxsize=10_000, ttl=60)
_device_cache_lock = threading.Lock()


def get_device(device_id: str) -> dict | None:
    with _device_cache_lock:
        if device_id in _device_cache:
            return _device_cache[device_id]
    with transaction() as conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            "SELECT device_id, device_type, firmware, message_count, last_seen FROM devices WHERE device_id = %s",
            (device_id,),
        )
        row = cur.fetchone()
    if row is not None:  # never cache misses: the device may register a second later
        with _device_cache_lock:
            _device_cache[device_id] = dict(row)
    return row


def write_batch(readings: list[tuple], devices: dict[str, tuple[str, str | None, int]]) -> None:
    """Insert a poll batch of readings and upsert device stats in ONE transaction.

    readings: (device_id, metric, value, recorded_at, source_partition, source_offset)
    devices: device_id -> (device_type, firmware, message_count_delta)
    """
    with transaction() as conn, conn.cursor() as cur:
        execute_values(
            cur,
            "INSERT INTO devices (device_id, device_type, firmware, message_count, last_seen) VALUES %s "
            "ON CONFLICT (device_id) DO UPDATE SET "
            "message_count = devices.message_count + EXCLUDED.message_count, "
            "firmware = COALESCE(EXCLUDED.firmware, devices.firmware), last_seen = now()",
            [(d, t, fw, n) for d, (t, fw, n) in sorted(devices.items())],
            template="(%s, %s, %s, %s, now())",
        )
        # (partition, offset, metric) is unique, so a redelivered batch is a no-op.
        execute_values(
            cur,
            "INSERT INTO readings (device_id, metric, value, recorded_at, src_partition, src_offset) VALUES %s "
            "ON CONFLICT (src_partition, src_offset, metric) DO NOTHING",
            readings,
            page_size=1000,
        )


ORDERINGS = {
    "recorded_at": sql.SQL("recorded_at ASC"),
    "-recorded_at": sql.SQL("recorded_at DESC"),
    "value": sql.SQL("value ASC"),
    "-value": sql.SQL("value DESC"),
}


def query_readings(device_id: str, metric: str | None, since: datetime | None, order: str, limit: int) -> list[dict]:
    clauses = [sql.SQL("device_id = %s")]
    params: list = [device_id]
    if metric:
        clauses.append(sql.SQL("metric = %s"))
        params.append(metric)
    if since:
        clauses.append(sql.SQL("recorded_at >= %s"))
        params.append(since)
    query = sql.SQL(
        "SELECT device_id, metric, value, recorded_at FROM readings WHERE {where} ORDER BY {order} LIMIT %s"
    ).format(where=sql.SQL(" AND ").join(clauses), order=ORDERINGS[order])
    params.append(limit)
    with transaction() as conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(query, params)
        return [dict(r) for r in cur.fetchall()]


def reading_stats(device_id: str, metric: str, since: datetime | None) -> dict:
    with transaction() as conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            "SELECT count(*) AS count, avg(value) AS avg, min(value) AS min, max(value) AS max "
            "FROM readings WHERE device_id = %s AND metric = %s AND (%s::timestamptz IS NULL OR recorded_at >= %s)",
            (device_id, metric, since, since),
        )
        return dict(cur.fetchone())


def delete_device(device_id: str) -> bool:
    with transaction() as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM readings WHERE device_id = %s", (device_id,))
        cur.execute("DELETE FROM devices WHERE device_id = %s", (device_id,))
        deleted = cur.rowcount > 0
    with _device_cache_lock:
        _device_cache.pop(device_id, None)
    return deleted


def ping() -> None:
    with transaction() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
