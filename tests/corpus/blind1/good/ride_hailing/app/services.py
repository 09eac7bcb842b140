import asyncio
import logging
import random
from decimal import ROUND_HALF_UP, Decimal

import httpx
import redis.asyncio as aioredis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from .db import Driver, Payment, Ride, settings

logger = logging.getLogger("rides.services")

DRIVER_GEO_KEY = "drivers:geo"
QUOTE_TTL_S = 30
DRIVER_PAYOUT_SHARE = Decimal("0.80")
RETRYABLE_STATUS = {429, 502, 503, 504}


class UpstreamError(Exception):
    """An upstream dependency failed after all retries."""


class PaymentDeclined(Exception):
    """The provider answered definitively that the charge was refused."""


async def _request_with_retry(client: httpx.AsyncClient, method: str, url: str, **kwargs) -> httpx.Response:
    """Retry transient failures with capped exponential backoff and jitter.

    Only used for idempotent calls or calls carrying an idempotency key.
    """
    attempts = settings.http_max_attempts
    for attempt in range(1, attempts + 1):
        try:
            resp = await client.request(method, url, **kwargs)
            if resp.status_code not in RETRYABLE_STATUS:
                return resp
            logger.warning("upstream retryable status", extra={"url": url, "status": resp.status_code, "attempt": attempt})
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            logger.warning("upstream transport error", extra={"url": url, "attempt": attempt, "error": repr(exc)})
            if attempt == attempts:
                raise UpstreamError(f"{url} unreachable") from exc
        if attempt < attempts:
            await asyncio.sleep(min(2.0, 0.2 * 2 ** (attempt - 1)) + random.uniform(0, 0.1))
    raise UpstreamError(f"{url} kept failing")


class PricingClient:
    def __init__(self, client: httpx.AsyncClient, cache: aioredis.Redis):
        self.client = client
        self.cache = cache

    async def quote(self, pickup: tuple[float, float], dropoff: tuple[float, float], surge_zone: str) -> Decimal:
        key = "quote:{:.4f}:{:.4f}:{:.4f}:{:.4f}:{}".format(*pickup, *dropoff, surge_zone)
        cached = await self.cache.get(key)
        if cached is not None:
            return Decimal(cached)
        resp = await _request_with_retry(
            self.client, "POST", str(settings.pricing_url),
            json={"pickup": pickup, "dropoff": dropoff, "zone": surge_zone},
        )
        resp.raise_for_status()
        fare = Decimal(str(resp.json()["fare"])).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if fare <= 0:
            raise UpstreamError("pricing returned a non-positive fare")
        await self.cache.set(key, str(fare), ex=QUOTE_TTL_S)
        return fare


class PaymentClient:
    def __init__(self, client: httpx.AsyncClient):
        self.client = client

    async def charge(self, token: str, amount: Decimal, idempotency_key: str) -> dict:
        resp = await _request_with_retry(
            self.client, "POST", str(settings.payments_url),
            headers={
                "Authorization": f"Bearer {settings.payments_key.get_secret_value()}",
                "Idempotency-Key": idempotency_key,
            },
            json={"source": token, "amount": int(amount * 100), "currency": "usd"},
        )
        if resp.status_code in (402, 422):
            raise PaymentDeclined(resp.json().get("code", "declined"))
        resp.raise_for_status()
        return resp.json()


class LocationCache:
    def __init__(self, cache: aioredis.Redis):
        self.cache = cache

    async def update(self, driver_id: int, lat: float, lng: float) -> None:
        async with self.cache.pipeline(transaction=True) as pipe:
            pipe.geoadd(DRIVER_GEO_KEY, (lng, lat, str(driver_id)))
            pipe.set(f"driver:seen:{driver_id}", "1", ex=settings.driver_location_ttl_s)
            await pipe.execute()

    async def nearby(self, lat: float, lng: float, radius_km: float, limit: int = 20) -> list[dict]:
        hits = await self.cache.geosearch(
            DRIVER_GEO_KEY, longitude=lng, latitude=lat, radius=radius_km, unit="km",
            sort="ASC", count=limit * 2, withdist=True,
        )
        if not hits:
            return []
        alive = await self.cache.mget([f"driver:seen:{m}" for m, _ in hits])
        out = [
            {"driver_id": int(member), "distance_km": dist}
            for (member, dist), seen in zip(hits, alive) if seen is not None
        ]
        stale = [m for (m, _), seen in zip(hits, alive) if seen is None]
        if stale:
            await self.cache.zrem(DRIVER_GEO_KEY, *stale)
        return out[:limit]


async def notify_driver(client: httpx.AsyncClient, driver_id: int, ride_id: int) -> None:
    try:
        resp = await client.post(str(settings.push_url), json={"driver_id": driver_id, "ride_id": ride_id})
        resp.raise_for_status()
    except httpx.HTTPError:
        logger.exception("push notification failed", extra={"driver_id": driver_id, "ride_id": ride_id})


SORTABLE = {"created_at": Ride.created_at, "fare": Ride.fare}


async def ride_history(session: AsyncSession, rider_id: int, sort: str, descending: bool, limit: int, offset: int) -> list[dict]:
    column = SORTABLE[sort]  # caller validates against SORTABLE
    order = column.desc() if descending else column.asc()
    stmt = select(Ride).where(Ride.rider_id == rider_id).order_by(order, Ride.id).limit(limit).offset(offset)
    rides = (await session.execute(stmt)).scalars().all()
    return [
        {"ride_id": r.id, "status": r.status, "fare": str(r.fare) if r.fare is not None else None,
         "created_at": r.created_at.isoformat()}
        for r in rides
    ]


async def driver_rides_with_riders(session: AsyncSession, driver_id: int, limit: int, offset: int) -> list[dict]:
    stmt = (
        select(Ride).options(selectinload(Ride.rider))
        .where(Ride.driver_id == driver_id)
        .order_by(Ride.created_at.desc(), Ride.id).limit(limit).offset(offset)
    )
    rides = (await session.execute(stmt)).scalars().all()
    return [{"ride_id": r.id, "fare": str(r.fare), "rider": r.rider.name} for r in rides]


async def settle_ride(session: AsyncSession, payments: PaymentClient, ride_id: int, idempotency_key: str) -> dict:
    existing = await session.scalar(select(Payment).where(Payment.ride_id == ride_id))
    if existing is not None:
        return {"status": "paid", "charge_id": existing.provider_ref, "replayed": True}

    # Claim the ride atomically so two concurrent completions cannot both charge.
    claimed = await session.execute(
        update(Ride).where(Ride.id == ride_id, Ride.status.in_(("accepted", "payment_failed")))
        .values(status="settling").returning(Ride.id, Ride.fare, Ride.driver_id)
    )
    row = claimed.one_or_none()
    await session.commit()
    if row is None:
        raise LookupError("ride is not in a completable state")
    _, fare, driver_id = row

    ride = await session.get(Ride, ride_id, options=[selectinload(Ride.rider)])
    try:
        charge = await payments.charge(ride.rider.payment_token, fare, f"ride-{ride_id}")
    except (PaymentDeclined, UpstreamError, httpx.HTTPError):
        await session.execute(update(Ride).where(Ride.id == ride_id).values(status="payment_failed"))
        await session.commit()
        logger.exception("charge failed", extra={"ride_id": ride_id})
        raise

    payout = (fare * DRIVER_PAYOUT_SHARE).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    # Ride status, driver payout and payment record commit together or not at all.
    try:
        await session.execute(update(Ride).where(Ride.id == ride_id).values(status="completed"))
        await session.execute(
            update(Driver).where(Driver.id == driver_id)
            .values(balance=Driver.balance + payout, completed_rides=Driver.completed_rides + 1)
        )
        session.add(Payment(ride_id=ride_id, amount=fare, provider_ref=charge["id"],
                            idempotency_key=idempotency_key, status="captured"))
        await session.commit()
    except Exception:
        await session.rollback()
        logger.exception("settlement write failed after capture", extra={"ride_id": ride_id, "charge_id": charge["id"]})
        raise
    logger.info("ride settled", extra={"ride_id": ride_id, "charge_id": charge["id"]})
    return {"status": "paid", "charge_id": charge["id"], "replayed": False}
