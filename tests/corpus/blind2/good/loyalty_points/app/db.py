import json
import logging

import redis
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

logger = logging.getLogger(__name__)

EXPIRY_LOCK_ID = 847_221
EXPIRY_BATCH = 5000
SORT_COLUMNS = {"created_at": "created_at", "points": "points", "kind": "kind"}
DIRECTIONS = {"asc": "ASC", "desc": "DESC"}

_pool: ConnectionPool | None = None
_cache: redis.Redis | None = None
_cache_ttl = 60


class InsufficientPoints(Exception):
    def __init__(self, balance):
        super().__init__("insufficient points")
        self.balance = balance


class MemberNotFound(Exception):
    pass


def init(settings) -> None:
    global _pool, _cache, _cache_ttl
    _pool = ConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=10,
        timeout=5,
        kwargs={"row_factory": dict_row, "options": "-c statement_timeout=5000"},
        open=True,
    )
    _cache = redis.Redis.from_url(settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    _cache_ttl = settings.balance_cache_ttl


def _cache_get(key):
    try:
        raw = _cache.get(key)
    except redis.RedisError:
        logger.warning("cache read failed", extra={"key": key}, exc_info=True)
        return None
    return json.loads(raw) if raw else None


def _cache_set(key, value):
    try:
        _cache.set(key, json.dumps(value, default=str), ex=_cache_ttl)
    except redis.RedisError:
        logger.warning("cache write failed", extra={"key": key}, exc_info=True)


def _invalidate(*member_ids):
    keys = [f"member:{m}" for m in member_ids]
    if not keys:
        return
    try:
        _cache.delete(*keys)
    except redis.RedisError:
        # entries expire after _cache_ttl; writes never depend on cached values
        logger.warning("cache invalidation failed", extra={"members": len(keys)}, exc_info=True)


def ping_db() -> bool:
    try:
        with _pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        logger.warning("db ping failed", exc_info=True)
        return False


def ping_cache() -> bool:
    try:
        return bool(_cache.ping())
    except redis.RedisError:
        return False


def get_member(member_id):
    """Read-only view; may be up to _cache_ttl seconds stale. Never used for write decisions."""
    member = _cache_get(f"member:{member_id}")
    if member is None:
        with _pool.connection() as conn:
            member = conn.execute(
                "SELECT id, name, tier, balance FROM members WHERE id = %s", (member_id,)
            ).fetchone()
        if member:
            _cache_set(f"member:{member_id}", member)
    return member


def earn(member_id, points, reference):
    """Ledger row and balance change commit together; a repeated reference is a no-op."""
    with _pool.connection() as conn, conn.transaction():
        inserted = conn.execute(
            "INSERT INTO points_ledger (member_id, kind, points, reference, created_at) "
            "VALUES (%s, 'earn', %s, %s, now()) ON CONFLICT (member_id, kind, reference) DO NOTHING RETURNING id",
            (member_id, points, reference),
        ).fetchone()
        if inserted:
            row = conn.execute(
                "UPDATE members SET balance = balance + %s WHERE id = %s RETURNING balance", (points, member_id)
            ).fetchone()
        else:
            row = conn.execute("SELECT balance FROM members WHERE id = %s", (member_id,)).fetchone()
        if row is None:
            raise MemberNotFound(member_id)
    _invalidate(member_id)
    return row["balance"], bool(inserted)


def redeem(member_id, points, reference):
    with _pool.connection() as conn, conn.transaction():
        inserted = conn.execute(
            "INSERT INTO points_ledger (member_id, kind, points, reference, created_at) "
            "VALUES (%s, 'redeem', %s, %s, now()) ON CONFLICT (member_id, kind, reference) DO NOTHING RETURNING id",
            (member_id, -points, reference),
        ).fetchone()
        if not inserted:
            row = conn.execute("SELECT balance FROM members WHERE id = %s", (member_id,)).fetchone()
            if row is None:
                raise MemberNotFound(member_id)
            return row["balance"], False
        row = conn.execute(
            "UPDATE members SET balance = balance - %s WHERE id = %s AND balance >= %s RETURNING balance",
            (points, member_id, points),
        ).fetchone()
        if row is None:
            current = conn.execute("SELECT balance FROM members WHERE id = %s", (member_id,)).fetchone()
            if current is None:
                raise MemberNotFound(member_id)
            raise InsufficientPoints(current["balance"])  # rolls back the ledger insert
    _invalidate(member_id)
    return row["balance"], True


def adjust(member_id, delta, reason, actor):
    with _pool.connection() as conn, conn.transaction():
        row = conn.execute(
            "UPDATE members SET balance = GREATEST(balance + %s, 0) WHERE id = %s RETURNING balance",
            (delta, member_id),
        ).fetchone()
        if row is None:
            raise MemberNotFound(member_id)
        conn.execute(
            "INSERT INTO points_ledger (member_id, kind, points, reference, created_at) "
            "VALUES (%s, 'adjust', %s, %s, now())",
            (member_id, delta, f"{actor}:{reason}"[:200]),
        )
    _invalidate(member_id)
    return row["balance"]


def fetch_history(member_id, sort="created_at", direction="desc", limit=50, offset=0):
    column = SORT_COLUMNS.get(sort)
    order = DIRECTIONS.get(direction)
    if column is None or order is None:
        raise ValueError("invalid sort")
    query = (
        "SELECT kind, points, reference, created_at FROM points_ledger WHERE member_id = %s "
        f"ORDER BY {column} {order}, id {order} LIMIT %s OFFSET %s"
    )
    with _pool.connection() as conn:
        return conn.execute(query, (member_id, limit, offset)).fetchall()


_EXPIRE_BATCH_SQL = """
WITH lots AS (
    SELECT id FROM points_ledger
    WHERE kind = 'earn' AND expired = false AND created_at < now() - make_interval(days => %(days)s)
    ORDER BY id LIMIT %(batch)s FOR UPDATE SKIP LOCKED
), expired AS (
    UPDATE points_ledger l SET expired = true FROM lots WHERE l.id = lots.id
    RETURNING l.id, l.member_id, l.points
), per_member AS (
    SELECT member_id, SUM(points) AS pts FROM expired GROUP BY member_id
), balances AS (
    UPDATE members m SET balance = GREATEST(m.balance - p.pts, 0) FROM per_member p WHERE m.id = p.member_id
    RETURNING m.id
)
INSERT INTO points_ledger (member_id, kind, points, reference, created_at)
SELECT member_id, 'expire', -points, 'lot:' || id, now() FROM expired
RETURNING member_id
"""


def expire_points(expiry_days) -> int:
    """Set-based, batched, one transaction per batch; a cluster-wide advisory lock prevents double runs."""
    total = 0
    with _pool.connection() as lock_conn:
        got_lock = lock_conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (EXPIRY_LOCK_ID,)).fetchone()["ok"]
        if not got_lock:
            logger.info("expiry already running elsewhere; skipping")
            return 0
        try:
            while True:
                with _pool.connection() as conn, conn.transaction():
                    conn.execute("SET LOCAL statement_timeout = '60s'")
                    rows = conn.execute(_EXPIRE_BATCH_SQL, {"days": expiry_days, "batch": EXPIRY_BATCH}).fetchall()
                if not rows:
                    break
                total += len(rows)
                _invalidate(*{r["member_id"] for r in rows})
        finally:
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", (EXPIRY_LOCK_ID,))
    return total
