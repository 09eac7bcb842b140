import hashlib
import hmac
import logging
import sys
from contextlib import asynccontextmanager
from typing import Literal

import httpx
import redis.asyncio as aioredis
from fastapi import BackgroundTasks, Depends, FastAPI, Header, HTTPException, Query, Request
from pydantic import BaseModel, Field
from pythonjsonlogger import jsonlogger
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from .db import Driver, Ride, SessionLocal, engine, get_session, settings
from .services import (
    LocationCache,
    PaymentClient,
    PaymentDeclined,
    PricingClient,
    UpstreamError,
    driver_rides_with_riders,
    notify_driver,
    ride_history,
    settle_ride,
)

handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(jsonlogger.JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
logging.basicConfig(level=logging.INFO, handlers=[handler])
logger = logging.getLogger("rides.api")


@asynccontextmanager
async def lifespan(app: FastAPI):
    timeout = httpx.Timeout(settings.http_timeout_s, connect=1.0)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    app.state.http = httpx.AsyncClient(timeout=timeout, limits=limits)
    app.state.redis = aioredis.from_url(str(settings.redis_url), decode_responses=True, socket_timeout=1.0)
    app.state.pricing = PricingClient(app.state.http, app.state.redis)
    app.state.payments = PaymentClient(app.state.http)
    app.state.locations = LocationCache(app.state.redis)
    yield
    await app.state.http.aclose()
    await app.state.redis.aclose()
    await engine.dispose()


app = FastAPI(title="Ride Hailing API", lifespan=lifespan)


def require_admin(authorization: str = Header(...)) -> None:
    expected = f"Bearer {settings.admin_token.get_secret_value()}"
    if not hmac.compare_digest(authorization.encode(), expected.encode()):
        raise HTTPException(403, "forbidden")


def require_driver(driver_id: int, x_driver_token: str = Header(...)) -> int:
    secret = settings.driver_token_secret.get_secret_value().encode()
    expected = hmac.new(secret, str(driver_id).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(x_driver_token, expected):
        raise HTTPException(403, "forbidden")
    return driver_id


class RideRequest(BaseModel):
    rider_id: int = Field(gt=0)
    pickup_lat: float = Field(ge=-90, le=90)
    pickup_lng: float = Field(ge=-180, le=180)
    dropoff_lat: float = Field(ge=-90, le=90)
    dropoff_lng: float = Field(ge=-180, le=180)
    surge_zone: str = Field(default="default", min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$")


class LocationUpdate(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}


@app.get("/readyz")
async def readyz(request: Request):
    try:
        async with SessionLocal() as session:
            await session.execute(text("SELECT 1"))
        await request.app.state.redis.ping()
    except Exception:
        logger.exception("readiness check failed")
        raise HTTPException(503, "not ready")
    return {"status": "ready"}


@app.post("/rides", status_code=201)
async def request_ride(req: RideRequest, request: Request, background: BackgroundTasks,
                       session: AsyncSession = Depends(get_session)):
    try:
        fare = await request.app.state.pricing.quote(
            (req.pickup_lat, req.pickup_lng), (req.dropoff_lat, req.dropoff_lng), req.surge_zone
        )
    except (UpstreamError, httpx.HTTPError):
        logger.exception("pricing unavailable")
        raise HTTPException(503, "pricing unavailable, try again")
    ride = Ride(
        rider_id=req.rider_id,
        pickup_lat=req.pickup_lat, pickup_lng=req.pickup_lng,
        dropoff_lat=req.dropoff_lat, dropoff_lng=req.dropoff_lng,
        fare=fare,
    )
    session.add(ride)
    await session.commit()

    nearby = await request.app.state.locations.nearby(req.pickup_lat, req.pickup_lng, radius_km=5, limit=5)
    for d in nearby:
        background.add_task(notify_driver, request.app.state.http, d["driver_id"], ride.id)
    logger.info("ride requested", extra={"ride_id": ride.id, "drivers_notified": len(nearby)})
    return {"ride_id": ride.id, "fare": str(fare), "drivers_notified": len(nearby)}


@app.post("/rides/{ride_id}/accept")
async def accept_ride(ride_id: int, driver_id: int = Depends(require_driver),
                      session: AsyncSession = Depends(get_session)):
    result = await session.execute(
        update(Ride).where(Ride.id == ride_id, Ride.status == "requested")
        .values(driver_id=driver_id, status="accepted").returning(Ride.id)
    )
    accepted = result.scalar_one_or_none()
    await session.commit()
    if accepted is None:
        raise HTTPException(409, "ride not found or already taken")
    return {"ride_id": ride_id, "driver_id": driver_id, "status": "accepted"}


@app.post("/rides/{ride_id}/complete")
async def complete_ride(ride_id: int, request: Request,
                        idempotency_key: str = Header(..., alias="Idempotency-Key", min_length=8, max_length=128),
                        session: AsyncSession = Depends(get_session)):
    try:
        return await settle_ride(session, request.app.state.payments, ride_id, idempotency_key)
    except LookupError:
        raise HTTPException(409, "ride is not in a completable state")
    except PaymentDeclined:
        raise HTTPException(402, "payment declined")
    except (UpstreamError, httpx.HTTPError):
        raise HTTPException(502, "payment provider unavailable; retry with the same Idempotency-Key")


@app.post("/drivers/{driver_id}/location", status_code=204)
async def update_location(body: LocationUpdate, request: Request, driver_id: int = Depends(require_driver)):
    await request.app.state.locations.update(driver_id, body.lat, body.lng)


@app.get("/riders/{rider_id}/rides")
async def rider_rides(rider_id: int,
                      sort: Literal["created_at", "fare"] = "created_at",
                      descending: bool = True,
                      limit: int = Query(20, ge=1, le=100),
                      offset: int = Query(0, ge=0, le=10_000),
                      session: AsyncSession = Depends(get_session)):
    return await ride_history(session, rider_id, sort, descending, limit, offset)


@app.get("/drivers/{driver_id}/rides")
async def driver_rides(driver_id: int = Depends(require_driver),
                       limit: int = Query(20, ge=1, le=100),
                       offset: int = Query(0, ge=0, le=10_000),
                       session: AsyncSession = Depends(get_session)):
    return await driver_rides_with_riders(session, driver_id, limit, offset)


@app.post("/admin/drivers/{driver_id}/suspend", dependencies=[Depends(require_admin)])
async def suspend_driver(driver_id: int, session: AsyncSession = Depends(get_session)):
    result = await session.execute(
        update(Driver).where(Driver.id == driver_id).values(status="suspended").returning(Driver.id)
    )
    if result.scalar_one_or_none() is None:
        await session.rollback()
        raise HTTPException(404, "driver not found")
    await session.commit()
    logger.info("driver suspended", extra={"driver_id": driver_id})
    return {"driver_id": driver_id, "status": "suspended"}
