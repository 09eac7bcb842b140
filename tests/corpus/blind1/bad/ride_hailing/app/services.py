import json
import logging
import math
import os

import httpx
import redis
import requests
from sqlalchemy import select, text

from .db import Driver, Payment, Ride, Rider

logger = logging.getLogger("rides")

PRICING_URL = "http://pricing.internal.svc:8081/v1/quote"
PAYMENTS_URL = "https://api.payflow.io/v2/charges"
PAYMENTS_KEY = os.getenv("PAYMENTS_KEY", "")

r = redis.Redis(host="redis", port=6379, decode_responses=True)

# fare quotes keyed by (pickup, dropoff) so repeated requests are instant
_quote_cache: dict[str, dict] = {}


def _haversine_km(lat1, lng1, lat2, lng2):
    p = math.pi / 180
    a = (
        0.5
        - math.cos((lat2 - lat1) * p) / 2
        + math.cos(lat1 * p) * math.cos(lat2 * p) * (1 - math.cos((lng2 - lng1) * p)) / 2
    )
    return 12742 * math.asin(math.sqrt(a))


class PricingClient:
    def __init__(self):
        self.client = httpx.AsyncClient(timeout=10.0)

    async def quote(self, pickup, dropoff, surge_zone):
        key = f"{pickup}:{dropoff}:{surge_zone}"
        if key in _quote_cache:
            return _quote_cache[key]
        for attempt in range(10):
            try:
                resp = await self.client.post(
                    PRICING_URL,
                    json={"pickup": pickup, "dropoff": dropoff, "zone": surge_zone},
                )
                data = resp.json()
                _quote_cache[key] = data
                return data
            except Exception:
                continue
        raise RuntimeError("pricing service unavailable")


pricing = PricingClient()


class PaymentClient:
    def charge(self, token, amount, ride_id):
        logger.info("charging ride %s amount %s", ride_id, amount)
        for attempt in range(3):
            resp = requests.post(
                PAYMENTS_URL,
                headers={"Authorization": f"Bearer {PAYMENTS_KEY}"},
                json={"source": token, "amount": int(amount * 100), "currency": "usd"},
            )
            if resp.status_code == 200:
                return resp.json()
        raise RuntimeError("payment failed")


payments = PaymentClient()


class LocationCache:
    def update(self, driver_id, lat, lng):
        r.set(f"driver:{driver_id}", json.dumps({"lat": lat, "lng": lng}), ex=60)

    def nearby(self, lat, lng, radius_km):
        found = []
        for key in r.keys("driver:*"):
            loc = json.loads(r.get(key))
            d = _haversine_km(lat, lng, loc["lat"], loc["lng"])
            if d <= radius_km:
                found.append({"driver_id": int(key.split(":")[1]), "distance_km": d})
        return sorted(found, key=lambda x: x["distance_km"])


locations = LocationCache()


async def notify_driver(driver_id: int, ride_id: int):
    async with httpx.AsyncClient() as client:
        await client.post(
            "http://push.internal.svc:9000/send",
            json={"driver_id": driver_id, "ride_id": ride_id},
        )


async def ride_history(session, rider_id: int, sort: str):
    query = text(
        f"SELECT * FROM rides WHERE rider_id = :rider_id ORDER BY {sort}"
    )
    result = await session.execute(query, {"rider_id": rider_id})
    return [dict(row._mapping) for row in result]


async def driver_rides_with_riders(session, driver_id: int):
    rides = (await session.execute(select(Ride).where(Ride.driver_id == driver_id))).scalars().all()
    out = []
    for ride in rides:
        rider = await session.get(Rider, ride.rider_id)
        out.append({"ride_id": ride.id, "fare": ride.fare, "rider": rider.name, "rider_phone": rider.phone})
    return out


async def settle_ride(session, ride: Ride, rider_token: str):
    ride.status = "completed"
    await session.commit()

    try:
        charge = payments.charge(rider_token, float(ride.fare), ride.id)
    except (requests.RequestException, RuntimeError):
        return {"status": "paid"}

    driver = await session.get(Driver, ride.driver_id)
    payout = float(ride.fare) * 0.8
    new_balance = float(driver.balance) + payout
    driver.balance = new_balance
    driver.completed_rides = driver.completed_rides + 1
    await session.commit()

    session.add(Payment(ride_id=ride.id, amount=ride.fare, provider_ref=charge["id"], status="captured"))
    await session.commit()
    return {"status": "paid", "charge_id": charge["id"]}
