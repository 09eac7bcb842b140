"""Status API for shipments. Sync endpoints run in FastAPI's threadpool (psycopg2 is blocking)."""
import logging
from datetime import datetime
from typing import Literal

from fastapi import FastAPI, HTTPException, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app import db
from app.config import get_settings
from app.tasks import refresh_from_carrier

logger = logging.getLogger("logistics.api")
get_settings()  # fail fast on missing configuration

app = FastAPI(title="Logistics Tracking")

TrackingNumber = Path(pattern=r"^[A-Z0-9]{6,40}$")
Carrier = Literal["dhl", "ups", "fedex"]


class ShipmentIn(BaseModel):
    tracking_number: str = Field(pattern=r"^[A-Z0-9]{6,40}$")
    carrier: Carrier
    customer_ref: str | None = Field(default=None, max_length=64)
    customer_phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")
    weight_kg: float = Field(gt=0, le=1000)


class EventOut(BaseModel):
    status: str
    location: str | None
    occurred_at: datetime


class ShipmentOut(BaseModel):
    tracking_number: str
    carrier: str
    status: str
    last_location: str | None
    updated_at: datetime
    events: list[EventOut] = []


@app.get("/shipments", response_model=list[ShipmentOut])
def list_shipments(status: str | None = Query(None, max_length=40),
                   carrier: Carrier | None = None,
                   customer: str | None = Query(None, max_length=64),
                   limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0, le=100_000)):
    return db.find_shipments(status=status, carrier=carrier, customer=customer, limit=limit, offset=offset)


@app.get("/shipments/{tracking_number}", response_model=ShipmentOut)
def shipment_status(tracking_number: str = TrackingNumber):
    shipment = db.get_shipment(tracking_number)
    if not shipment:
        raise HTTPException(status_code=404, detail="not found")
    return {**shipment, "events": db.shipment_events(tracking_number)}


@app.post("/shipments", status_code=201)
def create_shipment(payload: ShipmentIn):
    if not db.create_shipment(**payload.model_dump()):
        raise HTTPException(status_code=409, detail="shipment already exists")
    logger.info("shipment %s created", payload.tracking_number)
    return {"tracking_number": payload.tracking_number}


@app.post("/shipments/{tracking_number}/refresh", status_code=202)
def refresh(tracking_number: str = TrackingNumber):
    if db.get_shipment(tracking_number) is None:
        raise HTTPException(status_code=404, detail="not found")
    refresh_from_carrier.send(tracking_number)
    return {"queued": True}


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.get("/readyz")
def readyz():
    try:
        db.ping()
    except Exception:
        logger.exception("readiness check failed")
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return {"status": "ready"}
