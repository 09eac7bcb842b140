"""Thread-safe PostgreSQL access with a connection pool and explicit transactions."""
import contextlib
import threading

import psycopg2
import psycopg2.extras
from psycopg2.pool import ThreadedConnectionPool

from app.config import get_settings

_pool = None
_pool_lock = threading.Lock()

SHIPMENT_COLUMNS = "tracking_number, carrier, status, last_location, status_at, updated_at"


def pool() -> ThreadedConnectionPool:
    global _pool
    with _pool_lock:
        if _pool is None:
            s = get_settings()
            _pool = ThreadedConnectionPool(1, s.db_pool_max, s.database_url, connect_timeout=5,
                                           options="-c statement_timeout=10000")
    return _pool


@contextlib.contextmanager
def transaction():
    """Yield a dict cursor; commit on success, roll back on error, always return the connection."""
    conn = pool().getconn()
    broken = False
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            yield cur
        conn.commit()
    except psycopg2.OperationalError:
        broken = True
        raise
    except Exception:
        conn.rollback()
        raise
    finally:
        pool().putconn(conn, close=broken or conn.closed != 0)


def find_shipments(*, status=None, carrier=None, customer=None, limit=50, offset=0):
    with transaction() as cur:
        cur.execute(
            f"SELECT {SHIPMENT_COLUMNS} FROM shipments "
            "WHERE (%(status)s IS NULL OR status = %(status)s) "
            "AND (%(carrier)s IS NULL OR carrier = %(carrier)s) "
            "AND (%(customer)s IS NULL OR customer_ref = %(customer)s) "
            "ORDER BY updated_at DESC, tracking_number LIMIT %(limit)s OFFSET %(offset)s",
            {"status": status, "carrier": carrier, "customer": customer, "limit": limit, "offset": offset},
        )
        return cur.fetchall()


def get_shipment(tracking_number, *, include_contact=False):
    columns = SHIPMENT_COLUMNS + (", customer_phone" if include_contact else "")
    with transaction() as cur:
        cur.execute(f"SELECT {columns} FROM shipments WHERE tracking_number = %s", (tracking_number,))
        return cur.fetchone()


def shipment_events(tracking_number, limit=200):
    with transaction() as cur:
        cur.execute(
            "SELECT status, location, occurred_at FROM shipment_events WHERE tracking_number = %s "
            "ORDER BY occurred_at DESC LIMIT %s",
            (tracking_number, limit),
        )
        return cur.fetchall()


def create_shipment(*, tracking_number, carrier, customer_ref, customer_phone, weight_kg) -> bool:
    with transaction() as cur:
        cur.execute(
            "INSERT INTO shipments (tracking_number, carrier, customer_ref, customer_phone, weight_kg, status) "
            "VALUES (%s, %s, %s, %s, %s, 'created') ON CONFLICT (tracking_number) DO NOTHING",
            (tracking_number, carrier, customer_ref, customer_phone, weight_kg),
        )
        return cur.rowcount == 1


def apply_event(*, event_id, tracking_number, status, location, occurred_at) -> bool:
    """Record an event exactly once and advance the shipment only if the event is newer.

    Returns True if this call changed the shipment's current status.
    """
    with transaction() as cur:
        cur.execute(
            "INSERT INTO shipment_events (event_id, tracking_number, status, location, occurred_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING",
            (event_id, tracking_number, status, location, occurred_at),
        )
        if cur.rowcount == 0:
            return False  # duplicate delivery
        cur.execute(
            "UPDATE shipments SET status = %s, last_location = %s, status_at = %s, updated_at = now() "
            "WHERE tracking_number = %s AND (status_at IS NULL OR status_at < %s)",
            (status, location, occurred_at, tracking_number, occurred_at),
        )
        return cur.rowcount == 1


def claim_notification(tracking_number, status) -> bool:
    """Insert the notification marker first; only the claimer sends the SMS."""
    with transaction() as cur:
        cur.execute(
            "INSERT INTO notifications (tracking_number, status, state) VALUES (%s, %s, 'sending') "
            "ON CONFLICT (tracking_number, status) DO UPDATE SET state = 'sending' "
            "WHERE notifications.state = 'failed' RETURNING 1",
            (tracking_number, status),
        )
        return cur.fetchone() is not None


def finish_notification(tracking_number, status, state) -> None:
    with transaction() as cur:
        cur.execute("UPDATE notifications SET state = %s WHERE tracking_number = %s AND status = %s",
                    (state, tracking_number, status))


def archive_delivered(batch_size=1000) -> int:
    with transaction() as cur:
        cur.execute(
            "WITH moved AS (DELETE FROM shipments WHERE tracking_number IN ("
            "  SELECT tracking_number FROM shipments WHERE status = 'delivered' "
            "  AND updated_at < now() - interval '30 days' LIMIT %s FOR UPDATE SKIP LOCKED) "
            "RETURNING *) INSERT INTO shipments_archive SELECT * FROM moved",
            (batch_size,),
        )
        return cur.rowcount


def ping() -> None:
    with transaction() as cur:
        cur.execute("SELECT 1")
