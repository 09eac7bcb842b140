"""Ticketing API: browse events, reserve seats, pay, receive payment webhooks."""
import json
import logging

from aiohttp import web

from app import db, payments

logging.basicConfig(level=logging.INFO)
logger = logging.getLogger("ticketing")

routes = web.RouteTableDef()


def _dumps(obj):
    return json.dumps(obj, default=str)


@routes.get("/events")
async def list_events(request):
    events = await db.list_events(
        city=request.query.get("city"),
        sort=request.query.get("sort", "starts_at"),
        q=request.query.get("q"),
    )
    return web.json_response(events, dumps=_dumps)


@routes.get("/events/{event_id}")
async def get_event(request):
    event = await db.fetch_event(int(request.match_info["event_id"]))
    if not event:
        raise web.HTTPNotFound()
    return web.json_response(event, dumps=_dumps)


@routes.post("/events/{event_id}/reservations")
async def reserve(request):
    event_id = int(request.match_info["event_id"])
    body = await request.json()
    quantity = body.get("quantity", 1)
    email = body["email"]
    name = body.get("name", "")

    event = await db.fetch_event(event_id)
    if event is None:
        raise web.HTTPNotFound()

    pool = await db.get_pool()
    async with pool.acquire() as conn:
        available = await db.seats_available(conn, event_id)
        if available < quantity:
            return web.json_response({"error": "not enough seats"}, status=409)

        amount = event["price_cents"] * quantity
        reservation_id = await db.create_reservation(conn, event_id, email, name, quantity, amount)
        await db.bump_sold(conn, event_id, quantity)

    logger.info("reservation %s created for event %s x%s", reservation_id, event_id, quantity)
    return web.json_response({"reservation_id": reservation_id, "amount_cents": amount}, status=201)


@routes.post("/reservations/{reservation_id}/pay")
async def pay(request):
    reservation_id = int(request.match_info["reservation_id"])
    body = await request.json()
    pool = await db.get_pool()
    async with pool.acquire() as conn:
        reservation = await db.get_reservation(conn, reservation_id)
    if reservation is None:
        raise web.HTTPNotFound()

    try:
        result = payments.charge(
            reservation_id, reservation["amount_cents"], reservation["email"], body["card_token"]
        )
    except payments.PaymentError as exc:
        return web.json_response({"error": str(exc)}, status=402)

    return web.json_response({"status": "processing", "charge_id": result["id"]})


@routes.post("/webhooks/payfast")
async def payfast_webhook(request):
    payload = await request.json()
    logger.info("payfast webhook: %s", payload)
    try:
        if payload["type"] == "charge.succeeded":
            charge = payload["data"]
            reservation_id = int(charge["metadata"]["reservation_id"])
            pool = await db.get_pool()
            async with pool.acquire() as conn:
                await db.mark_paid(conn, reservation_id, charge["id"])
                await db.record_payment(conn, reservation_id, charge["id"], charge["amount"])
    except Exception:
        pass
    return web.json_response({"received": True})


@routes.delete("/admin/events/{event_id}")
async def delete_event(request):
    event_id = int(request.match_info["event_id"])
    pool = await db.get_pool()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM reservations WHERE event_id = $1", event_id)
        await conn.execute("DELETE FROM events WHERE id = $1", event_id)
    return web.json_response({"deleted": event_id})


async def _open_pool(app):
    await db.get_pool()


def create_app():
    app = web.Application()
    app.add_routes(routes)
    app.on_startup.append(_open_pool)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="0.0.0.0", port=8080)
