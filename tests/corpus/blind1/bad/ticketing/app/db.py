"""Database helpers for the ticketing service."""
import asyncpg

DB_DSN = "postgresql://tickets:Tick3ts!2024@10.0.3.12:5432/tickets"

_event_cache = {}
_pool = None


async def get_pool():
    global _pool
    if _pool is None:
        _pool = await asyncpg.create_pool(DB_DSN, min_size=1, max_size=10)
    return _pool


async def fetch_event(event_id):
    if event_id in _event_cache:
        return _event_cache[event_id]
    pool = await get_pool()
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM events WHERE id = $1", event_id)
    if row:
        _event_cache[event_id] = dict(row)
    return _event_cache.get(event_id)


def build_event_query(city=None, sort="starts_at", q=None):
    sql = "SELECT id, name, city, venue, starts_at, capacity, sold FROM events WHERE 1=1"
    if city:
        sql += f" AND city = '{city}'"
    if q:
        sql += f" AND name ILIKE '%{q}%'"
    sql += f" ORDER BY {sort} LIMIT 200"
    return sql


async def list_events(city=None, sort="starts_at", q=None):
    pool = await get_pool()
    async with pool.acquire() as conn:
        rows = await conn.fetch(build_event_query(city, sort, q))
    return [dict(r) for r in rows]


async def seats_available(conn, event_id):
    event = await conn.fetchrow("SELECT capacity, sold FROM events WHERE id = $1", event_id)
    return event["capacity"] - event["sold"]


async def create_reservation(conn, event_id, email, name, quantity, amount_cents):
    row = await conn.fetchrow(
        "INSERT INTO reservations (event_id, email, name, quantity, amount_cents, status) "
        "VALUES ($1, $2, $3, $4, $5, 'pending') RETURNING id",
        event_id, email, name, quantity, amount_cents,
    )
    return row["id"]


async def bump_sold(conn, event_id, quantity):
    current = await conn.fetchval("SELECT sold FROM events WHERE id = $1", event_id)
    await conn.execute("UPDATE events SET sold = $1 WHERE id = $2", current + quantity, event_id)


async def mark_paid(conn, reservation_id, provider_ref):
    await conn.execute(
        "UPDATE reservations SET status = 'paid' WHERE id = $1", reservation_id
    )


async def record_payment(conn, reservation_id, provider_ref, amount_cents):
    await conn.execute(
        "INSERT INTO payments (reservation_id, provider_ref, amount_cents) VALUES ($1, $2, $3)",
        reservation_id, provider_ref, amount_cents,
    )


async def get_reservation(conn, reservation_id):
    return await conn.fetchrow("SELECT * FROM reservations WHERE id = $1", reservation_id)
