"""Ticketing API: browse events, reserve seats, pay, receive payment webhooks."""
import hmac
import json
import logging
import re
import sys

from aiohttp import web

from app import db
from app.config import load_settings
from app.payments import PayFastClient, PaymentDeclined, PaymentError

logger = logging.getLogger("ticketing")

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_SEATS_PER_ORDER = 10

routes = web.RouteTableDef()


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {"level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        for key in ("reservation_id", "event_id", "status", "attempt", "error", "charge_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _dumps(obj):
    return json.dumps(obj, default=str)


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def _int_param(value, name, lo, hi):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise web.HTTPBadRequest(text=json.dumps({"error": f"{name} must be an integer"}),
                                 content_type="application/json")
    if not lo <= number <= hi:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"{name} out of range"}),
                                 content_type="application/json")
    return number


async def _json_body(request) -> dict:
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise web.HTTPBadRequest(text='{"error": "invalid JSON"}', content_type="application/json")
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "expected object"}', content_type="application/json")
    return body


@routes.get("/healthz")
async def healthz(request):
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request):
    try:
        await db.ping(request.app["pool"])
    except Exception:
        logger.exception("readiness check failed")
        return web.json_response({"status": "unavailable"}, status=503)
    return web.json_response({"status": "ready"})


@routes.get("/events")
async def list_events(request):
    sort = request.query.get("sort", "starts_at")
    if sort not in db.SORTABLE_COLUMNS:
        return _bad_request(f"sort must be one of {sorted(db.SORTABLE_COLUMNS)}")
    events = await db.list_events(
        request.app["pool"],
        city=request.query.get("city"),
        q=request.query.get("q"),
        sort=sort,
        limit=_int_param(request.query.get("limit", 50), "limit", 1, db.MAX_PAGE_SIZE),
        offset=_int_param(request.query.get("offset", 0), "offset", 0, 100_000),
    )
    return web.json_response(events, dumps=_dumps)


@routes.get("/events/{event_id}")
async def get_event(request):
    event_id = _int_param(request.match_info["event_id"], "event_id", 1, 2**31 - 1)
    event = await db.fetch_event(request.app["pool"], event_id)
    if not event:
        raise web.HTTPNotFound()
    return web.json_response(event, dumps=_dumps)


@routes.post("/events/{event_id}/reservations")
async def reserve(request):
    event_id = _int_param(request.match_info["event_id"], "event_id", 1, 2**31 - 1)
    body = await _json_body(request)
    quantity = body.get("quantity", 1)
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_SEATS_PER_ORDER:
        return _bad_request(f"quantity must be an integer between 1 and {MAX_SEATS_PER_ORDER}")
    email = body.get("email")
    if not isinstance(email, str) or not EMAIL_RE.match(email):
        return _bad_request("a valid email is required")
    name = body.get("name", "")
    if not isinstance(name, str) or len(name) > 200:
        return _bad_request("name must be a string of at most 200 characters")

    try:
        reservation_id, amount = await db.reserve_seats(
            request.app["pool"], event_id=event_id, email=email, name=name, quantity=quantity)
    except LookupError:
        raise web.HTTPNotFound()
    except db.SoldOut:
        return web.json_response({"error": "not enough seats"}, status=409)

    logger.info("reservation created", extra={"reservation_id": reservation_id, "event_id": event_id})
    return web.json_response({"reservation_id": reservation_id, "amount_cents": amount}, status=201)


@routes.post("/reservations/{reservation_id}/pay")
async def pay(request):
    reservation_id = _int_param(request.match_info["reservation_id"], "reservation_id", 1, 2**31 - 1)
    idempotency_key = request.headers.get("Idempotency-Key", "")
    if not IDEMPOTENCY_KEY_RE.match(idempotency_key):
        return _bad_request("Idempotency-Key header (16-64 url-safe chars) is required")
    body = await _json_body(request)
    card_token = body.get("card_token")
    if not isinstance(card_token, str) or not 1 <= len(card_token) <= 128:
        return _bad_request("card_token is required")

    pool = request.app["pool"]
    reservation = await db.get_reservation(pool, reservation_id)
    if reservation is None:
        raise web.HTTPNotFound()
    if reservation["status"] != "pending":
        return web.json_response({"error": f"reservation is {reservation['status']}"}, status=409)

    attempt = await db.claim_payment_attempt(pool, reservation_id, idempotency_key)
    if attempt["reservation_id"] != reservation_id:
        return web.json_response({"error": "Idempotency-Key reused for another reservation"}, status=422)
    if attempt["charge_id"]:
        return web.json_response({"status": "processing", "charge_id": attempt["charge_id"]})

    try:
        result = await request.app["payfast"].charge(
            reservation_id=reservation_id, amount_cents=reservation["amount_cents"],
            email=reservation["email"], card_token=card_token, idempotency_key=idempotency_key)
    except PaymentDeclined:
        return web.json_response({"error": "payment declined"}, status=402)
    except PaymentError:
        logger.exception("charge failed", extra={"reservation_id": reservation_id})
        return web.json_response({"error": "payment provider unavailable, retry with the same key"},
                                 status=503)

    await db.store_charge_id(pool, idempotency_key, result["id"])
    logger.info("charge created", extra={"reservation_id": reservation_id, "charge_id": result["id"]})
    return web.json_response({"status": "processing", "charge_id": result["id"]})


@routes.post("/webhooks/payfast")
async def payfast_webhook(request):
    raw = await request.read()
    if not request.app["payfast"].verify_signature(raw, request.headers.get("PayFast-Signature")):
        logger.warning("rejected webhook with bad signature")
        raise web.HTTPUnauthorized()
    try:
        payload = json.loads(raw)
        event_type = payload["type"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return _bad_request("malformed event")

    if event_type != "charge.succeeded":
        return web.json_response({"received": True, "ignored": event_type})

    try:
        charge = payload["data"]
        reservation_id = int(charge["metadata"]["reservation_id"])
        provider_ref = str(charge["id"])
        amount = int(charge["amount"])
    except (KeyError, TypeError, ValueError):
        logger.warning("webhook missing charge fields")
        return _bad_request("malformed charge")

    # Errors propagate as 500 so the provider redelivers; processing is idempotent.
    applied = await db.apply_successful_charge(
        request.app["pool"], reservation_id=reservation_id, provider_ref=provider_ref, amount_cents=amount)
    logger.info("payment webhook processed", extra={
        "reservation_id": reservation_id, "charge_id": provider_ref, "status": "applied" if applied else "duplicate"})
    return web.json_response({"received": True})


@web.middleware
async def admin_auth(request, handler):
    if request.path.startswith("/admin/"):
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(supplied.encode(), request.app["settings"].admin_token.encode()):
            raise web.HTTPUnauthorized()
    return await handler(request)


@routes.delete("/admin/events/{event_id}")
async def delete_event(request):
    event_id = _int_param(request.match_info["event_id"], "event_id", 1, 2**31 - 1)
    await db.delete_event(request.app["pool"], event_id)
    logger.info("event deleted by admin", extra={"event_id": event_id})
    return web.json_response({"deleted": event_id})


async def _startup(app):
    settings = app["settings"]
    app["pool"] = await db.create_pool(settings.database_url, settings.db_pool_max)
    app["payfast"] = PayFastClient(settings.payfast_url, settings.payfast_api_key,
                                   settings.payfast_webhook_secret, settings.payfast_timeout_s)
    await app["payfast"].start()


async def _cleanup(app):
    await app["payfast"].close()
    await app["pool"].close()


def create_app(settings=None):
    app = web.Application(middlewares=[admin_auth], client_max_size=64 * 1024)
    app["settings"] = settings or load_settings()
    app.add_routes(routes)
    app.on_startup.append(_startup)
    app.on_cleanup.append(_cleanup)
    return app


def main():
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    app = create_app()
    web.run_app(app, host="0.0.0.0", port=app["settings"].port, access_log=logger)


if __name__ == "__main__":
    main()
