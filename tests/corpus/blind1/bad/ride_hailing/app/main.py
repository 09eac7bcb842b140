import asyncio
import logging

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from .db import Driver, Ride, Rider, get_session
from .services import (
    driver_rides_with_riders,
    locations,
    notify_driver,
    pricing,
    ride_history,
    settle_ride,
)

logger = logging.getLogger("rides")

app = FastAPI(title="Ride Hailing API")


class RideRequest(BaseModel):
    rider_id: int
    pickup_lat: float
    pickup_lng: float
    dropoff_lat: float
    dropoff_lng: float
    surge_zone: str = "default"


@app.post("/rides")
async def request_ride(req: RideRequest, session: AsyncSession = Depends(get_session)):
    quote = await pricing.quote(
        (req.pickup_lat, req.pickup_lng), (req.dropoff_lat, req.dropoff_lng), req.surge_zone
    )
    ride = Ride(
        rider_id=req.rider_id,
        pickup_lat=req.pickup_lat,
        pickup_lng=req.pickup_lng,
        dropoff_lat=req.dropoff_lat,
        dropoff_lng=req.dropoff_lng,
        fare=quote["fare"],
    )
    session.add(ride)
    await session.commit()

    nearby = locations.nearby(req.pickup_lat, req.pickup_lng, radius_km=5)
    for d in nearby[:5]:
        asyncio.create_task(notify_driver(d["driver_id"], ride.id))
    return {"ride_id": ride.id, "fare": quote["fare"], "drivers_notified": len(nearby[:5])}


@app.post("/rides/{ride_id}/accept")
async def accept_ride(ride_id: int, driver_id: int, session: AsyncSession = Depends(get_session)):
    ride = await session.get(Ride, ride_id)
    if ride is None:
        raise HTTPException(404, "ride not found")
    if ride.status != "requested":
        raise HTTPException(409, "ride already taken")
    ride.driver_id = driver_id
    ride.status = "accepted"
    await session.commit()
    return {"ride_id": ride.id, "driver_id": driver_id, "status": ride.status}


@app.post("/rides/{ride_id}/complete")
async def complete_ride(ride_id: int, session: AsyncSession = Depends(get_session)):
    ride = await session.get(Ride, ride_id)
    if ride is None:
        raise HTTPException(404, "ride not found")
    rider = await session.get(Rider, ride.rider_id)
    result = await settle_ride(session, ride, rider.payment_token)
    return result


@app.post("/drivers/{driver_id}/location")
async def update_location(driver_id: int, payload: dict):
    locations.update(driver_id, payload["lat"], payload["lng"])
    return {"ok": True}


@app.get("/riders/{rider_id}/rides")
async def rider_rides(rider_id: int, sort: str = "created_at DESC", session: AsyncSession = Depends(get_session)):
    return await ride_history(session, rider_id, sort)


@app.get("/drivers/{driver_id}/rides")
async def driver_rides(driver_id: int, session: AsyncSession = Depends(get_session)):
    return await driver_rides_with_riders(session, driver_id)


@app.post("/admin/drivers/{driver_id}/suspend")
async def suspend_driver(driver_id: int, session: AsyncSession = Depends(get_session)):
    driver = await session.get(Driver, driver_id)
    driver.status = "suspended"
    await session.commit()
    return {"driver_id": driver_id, "status": "suspended"}
