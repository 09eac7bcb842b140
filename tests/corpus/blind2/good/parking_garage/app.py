import asyncio
import hmac
import json
import logging
from datetime import datetime, timezone

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

import billing
from consumer import VALID_LEVELS, PlateConsumer, plate_ref

logging.basicConfig(level=logging.INFO, format='{"ts":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}')
log = logging.getLogger("garage")

routes = web.RouteTableDef()
MAX_VALIDATED_HOURS = 8


def bad_request(msg):
    return web.json_response({"error": msg}, status=400)


@routes.get("/healthz")
async def healthz(request):
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request):
    try:
        await request.app["redis"].ping()
    except aioredis.RedisError:
        return web.json_response({"status": "redis unavailable"}, status=503)
    if not request.app["plates"].healthy:
        return web.json_response({"status": "consumer not running"}, status=503)
    return web.json_response({"status": "ready"})


@routes.get("/levels")
async def levels(request):
    values = await request.app["redis"].mget([f"free:{lvl}" for lvl in sorted(VALID_LEVELS)])
    return web.json_response({lvl: int(v or 0) for lvl, v in zip(sorted(VALID_LEVELS), values)})


@routes.post("/exit")
async def pay_at_exit(request):
    app, redis = request.app, request.app["redis"]
    try:
        body = await request.json()
        plate = str(body["plate"]).upper()[:16]
        card_token = str(body["card_token"])
        lane = str(body.get("lane", "1"))
        validated_hours = int(body.get("validated_hours", 0))
    except (ValueError, KeyError, TypeError):
        return bad_request("plate and card_token are required")
    if not 0 <= validated_hours <= MAX_VALIDATED_HOURS or lane not in {"1", "2", "3"}:
        return bad_request("validated_hours or lane out of range")

    lock = redis.lock(f"exitlock:{plate}", timeout=60, blocking_timeout=0)
    if not await lock.acquire():
        return web.json_response({"error": "payment already in progress"}, status=409)
    try:
        session = await redis.hgetall(f"session:{plate}")
        if not session:
            return web.json_response({"error": "no active session"}, status=404)
        if session.get("paid") == "1":
            return web.json_response({"status": "already paid"})
        fee = billing.compute_fee(billing.parse_ts(session["entered_at"]), datetime.now(timezone.utc), validated_hours)
        try:
            result = await billing.charge(app["http"], app["cfg"], amount=fee, card_token=card_token,
                                          idempotency_key=f"exit-{session['session_id']}")
        except billing.PaymentDeclined as exc:
            log.info("payment declined plate_ref=%s reason=%s", plate_ref(plate), exc)
            return web.json_response({"error": "payment declined"}, status=402)
        except billing.PaymentUnavailable:
            return web.json_response({"error": "payment service unavailable, retry"}, status=503)
        await redis.hset(f"session:{plate}", mapping={"paid": "1", "charge_id": result["id"]})
    finally:
        await lock.release()

    opened = await billing.open_barrier(app["http"], app["cfg"], lane)
    log.info("exit paid plate_ref=%s fee=%s barrier_opened=%s", plate_ref(plate), fee, opened)
    return web.json_response({"status": "paid", "fee": str(fee), "charge_id": result["id"], "barrier_opened": opened})


@routes.get("/history/{plate}")
async def history(request):
    plate = request.match_info["plate"].upper()[:16]
    raw = await request.app["redis"].lrange(f"history:{plate}", 0, 49)
    return web.json_response([json.loads(r) for r in raw])


@routes.post("/admin/reset")
async def admin_reset(request):
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(token.encode(), request.app["cfg"].admin_token.encode()):
        return web.json_response({"error": "forbidden"}, status=403)
    try:
        body = await request.json()
        values = {lvl: int(body[lvl]) for lvl in body}
    except (ValueError, TypeError, KeyError):
        return bad_request("expected {level: free_spots}")
    if not set(values) <= VALID_LEVELS or any(not 0 <= v <= 1000 for v in values.values()):
        return bad_request("unknown level or value out of range")
    await request.app["redis"].mset({f"free:{lvl}": v for lvl, v in values.items()})
    log.warning("occupancy reset by admin levels=%s", sorted(values))
    return web.json_response({"ok": True})


async def on_startup(app):
    cfg = billing.Config.from_env()
    app["cfg"] = cfg
    app["redis"] = aioredis.from_url(cfg.redis_url, decode_responses=True, socket_timeout=2)
    app["http"] = aiohttp.ClientSession()
    app["plates"] = PlateConsumer(cfg, app["redis"])
    app["consumer_task"] = asyncio.create_task(app["plates"].run_forever(), name="plate-consumer")


async def on_cleanup(app):
    app["consumer_task"].cancel()
    try:
        await app["consumer_task"]
    except asyncio.CancelledError:
        pass
    await app["http"].close()
    await app["redis"].aclose()


def create_app():
    app = web.Application(client_max_size=64 * 1024)
    app.add_routes(routes)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), port=8080)
