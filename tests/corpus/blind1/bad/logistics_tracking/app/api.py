"""Status API for shipments."""
from fastapi import FastAPI, HTTPException

from app.tasks import find_shipments, get_shipment, query, refresh_from_carrier

app = FastAPI(title="Logistics Tracking")


@app.get("/shipments")
async def list_shipments(status: str = None, carrier: str = None, customer: str = None):
    return find_shipments(status, carrier, customer)


@app.get("/shipments/{tracking_number}")
async def shipment_status(tracking_number: str):
    shipment = get_shipment(tracking_number)
    if not shipment:
        raise HTTPException(status_code=404, detail="not found")
    events = query(
        "SELECT status, location, occurred_at FROM shipment_events "
        "WHERE tracking_number = %s ORDER BY occurred_at",
        (tracking_number,),
    )
    return {
        "tracking_number": shipment["tracking_number"],
        "carrier": shipment["carrier"],
        "status": shipment["status"],
        "last_location": shipment["last_location"],
        "updated_at": shipment["updated_at"],
        "events": events,
    }


@app.post("/shipments")
async def create_shipment(payload: dict):
    query(
        "INSERT INTO shipments (tracking_number, carrier, customer_ref, customer_phone, weight_kg, status) "
        "VALUES (%s, %s, %s, %s, %s, 'created')",
        (payload["tracking_number"], payload["carrier"], payload.get("customer_ref"),
         payload.get("customer_phone"), payload.get("weight_kg")),
    )
    return {"ok": True}


@app.post("/shipments/{tracking_number}/refresh")
async def refresh(tracking_number: str, tracking_url: str = None):
    refresh_from_carrier.send(tracking_number, tracking_url)
    return {"queued": True}
