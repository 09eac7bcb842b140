"""Database access for the ticketing service. All SQL is parameterised."""
import asyncpg

SORTABLE_COLUMNS = {"starts_at": "starts_at", "name": "name", "city": "city"}
MAX_PAGE_SIZE = 100


class SoldOut(Exception):
    pass


async def create_pool(dsn: str, max_size: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(dsn, min_size=1, max_size=max_size, command_timeout=10)


async def fetch_event(pool, event_id: int):
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT id, name, city, venue, starts_at, capacity, sold, price_cents "
            "FROM events WHERE id = $1",
            event_id,
        )
    return dict(row) if row else None


async def list_events(pool, *, city=None, q=None, sort="starts_at", limit=50, offset=0):
    column = SORTABLE_COLUMNS.get(sort)
    if column is None:
        raise ValueError(f"unsupported sort column {sort!r}")
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    sql = (
        "SELECT id, name, city, venue, starts_at, capacity, sold, price_cents FROM events "
        "WHERE ($1::text IS NULL OR city = $1) "
        "AND ($2::text IS NULL OR name ILIKE '%' || $2 || '%') "
        f"ORDER BY {column}, id LIMIT $3 OFFSET $4"
    )
    async with pool.acquire() as conn:
        rows = await conn.fetch(sql, city, q, limit, offset)
    return [dict(r) for r in rows]


async def reserve_seats(pool, *, event_id: int, email: str, name: str, quantity: int):
    """Atomically claim seats and create the reservation in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        event = await conn.fetchrow(
            "UPDATE events SET sold = sold + $2 "
            "WHERE id = $1 AND sold + $2 <= capacity "
            "RETURNING price_cents",
            event_id, quantity,
        )
        if event is None:
            exists = await conn.fetchval("SELECT 1 FROM events WHERE id = $1", event_id)
            if not exists:
                raise LookupError(event_id)
            raise SoldOut(event_id)
        amount = event["price_cents"] * quantity
        reservation_id = await conn.fetchval(
            "INSERT INTO reservations (event_id, email, name, quantity, amount_cents, status) "
            "VALUES ($1, $2, $3, $4, $5, 'pending') RETURNING id",
            event_id, email, name, quantity, amount,
        )
    return reservation_id, amount


async def get_reservation(pool, reservation_id: int):
    async with pool.acquire() as conn:
        return await conn.fetchrow(
            "SELECT id, event_id, email, amount_cents, status FROM reservations WHERE id = $1",
            reservation_id,
        )


async def claim_payment_attempt(pool, reservation_id: int, idempotency_key: str):
    """Record the idempotency key; returns the existing charge id if the key was already used."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "INSERT INTO payment_attempts (reservation_id, idempotency_key) VALUES ($1, $2) "
            "ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key "
            "RETURNING reservation_id, charge_id",
            reservation_id, idempotency_key,
        )
    return row


async def store_charge_id(pool, idempotency_key: str, charge_id: str):
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE payment_attempts SET charge_id = $2 WHERE idempotency_key = $1",
            idempotency_key, charge_id,
        )


async def apply_successful_charge(pool, *, reservation_id: int, provider_ref: str, amount_cents: int) -> bool:
    """Idempotently mark a reservation paid. Returns False for duplicate deliveries."""
    async with pool.acquire() as conn, conn.transaction():
        inserted = await conn.fetchval(
            "INSERT INTO payments (reservation_id, provider_ref, amount_cents) VALUES ($1, $2, $3) "
            "ON CONFLICT (provider_ref) DO NOTHING RETURNING id",
            reservation_id, provider_ref, amount_cents,
        )
        if inserted is None:
            return False
        await conn.execute(
            "UPDATE reservations SET status = 'paid', paid_at = now() "
            "WHERE id = $1 AND status = 'pending'",
            reservation_id,
        )
    return True


async def delete_event(pool, event_id: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM reservations WHERE event_id = $1", event_id)
        await conn.execute("DELETE FROM events WHERE id = $1", event_id)


async def ping(pool) -> None:
    async with pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
