import logging
import os
import pickle

import psycopg
import redis
from psycopg.rows import dict_row

logger = logging.getLogger(__name__)

DATABASE_URL = os.getenv("DATABASE_URL")
REDIS_HOST = os.getenv("REDIS_HOST", "localhost")

conn = psycopg.connect(DATABASE_URL, autocommit=True, row_factory=dict_row)
cache = redis.Redis(host=REDIS_HOST, port=6379, db=0)

BALANCE_TTL = 600
SORTABLE = ("created_at", "points", "kind")


def get_member(member_id):
    cached = cache.get(f"member:{member_id}")
    if cached:
        return pickle.loads(cached)
    with conn.cursor() as cur:
        cur.execute("SELECT id, email, name, tier, balance FROM members WHERE id = %s", (member_id,))
        member = cur.fetchone()
    if member:
        cache.set(f"member:{member_id}", pickle.dumps(member), ex=BALANCE_TTL)
    return member


def get_balance(member_id):
    cached = cache.get(f"balance:{member_id}")
    if cached is not None:
        return int(cached)
    with conn.cursor() as cur:
        cur.execute("SELECT balance FROM members WHERE id = %s", (member_id,))
        row = cur.fetchone()
    balance = row["balance"] if row else 0
    cache.set(f"balance:{member_id}", balance, ex=BALANCE_TTL)
    return balance


def record_transaction(member_id, kind, points, reference):
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO points_ledger (member_id, kind, points, reference, created_at) VALUES (%s, %s, %s, %s, now())",
            (member_id, kind, points, reference),
        )


def set_balance(member_id, balance):
    with conn.cursor() as cur:
        cur.execute("UPDATE members SET balance = %s WHERE id = %s", (balance, member_id))
    cache.set(f"balance:{member_id}", balance, ex=BALANCE_TTL)


def deduct_balance(member_id, points):
    with conn.cursor() as cur:
        cur.execute("UPDATE members SET balance = balance - %s WHERE id = %s", (points, member_id))


def _history_query(sort, direction):
    return (
        "SELECT kind, points, reference, created_at FROM points_ledger "
        f"WHERE member_id = %s ORDER BY {sort} {direction}"
    )


def fetch_history(member_id, sort="created_at", direction="desc"):
    with conn.cursor() as cur:
        cur.execute(_history_query(sort, direction), (member_id,))
        return cur.fetchall()


def expire_points(expiry_days):
    """Nightly: expire earn lots older than the expiry window."""
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id, member_id, points FROM points_ledger "
                "WHERE kind = 'earn' AND expired = false AND created_at < now() - make_interval(days => %s)",
                (expiry_days,),
            )
            lots = cur.fetchall()
        for lot in lots:
            balance = get_balance(lot["member_id"])
            set_balance(lot["member_id"], max(balance - lot["points"], 0))
            with conn.cursor() as cur:
                cur.execute("UPDATE points_ledger SET expired = true WHERE id = %s", (lot["id"],))
            record_transaction(lot["member_id"], "expire", -lot["points"], f"lot:{lot['id']}")
        logger.info("expired %d lots", len(lots))
    except Exception as e:
        print("expiry job failed", e)
