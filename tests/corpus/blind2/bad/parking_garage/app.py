import asyncio
import json
import logging
from datetime import datetime

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

import billing
from consumer import consume_plates

logging.basicConfig(level=logging.INFO)
log = logging.getLogger("garage")

redis = aioredis.from_url("redis://:garageR3dis!@redis-master.garage.svc:6379/0", decode_responses=True)
LEVELS = ["P1", "P2", "P3"]

routes = web.RouteTableDef()


@routes.get("/levels")
async def levels(request):
    out = {}
    for level in LEVELS:
        out[level] = int(await redis.get(f"free:{level}") or 0)
    return web.json_response(out)


@routes.post("/exit")
async def pay_at_exit(request):
    body = await request.json()
    plate = body["plate"].upper()
    session = await redis.hgetall(f"session:{plate}")
    if not session:
        return web.json_response({"error": "no active session"}, status=404)
    if session.get("paid") == "1":
        return web.json_response({"status": "already paid"})

    validated_hours = float(body.get("validated_hours", 0))
    fee = billing.compute_fee(billing.parse_ts(session["entered_at"]), datetime.utcnow(), validated_hours)
    log.info("charging exit fee=%s", fee)
    result = billing.charge(plate, fee, body["card_token"])
    if result.get("status") == "failed":
        return web.json_response({"error": "payment failed"}, status=402)

    await redis.hset(f"session:{plate}", "paid", "1")
    asyncio.create_task(billing.open_barrier(request.app["http"], body.get("lane", "1")))
    return web.json_response({"status": "paid", "fee": fee, "charge_id": result.get("id")})


@routes.get("/history/{plate}")
async def history(request):
    plate = request.match_info["plate"].upper()
    visits = []
    for key in await redis.keys(f"history:{plate}:*"):
        for raw in await redis.lrange(key, 0, -1):
            visits.append(json.loads(raw))
    return web.json_response(visits)


@routes.post("/admin/reset")
async def admin_reset(request):
    body = await request.json()
    for level, free in body.items():
        await redis.set(f"free:{level}", int(free))
    return web.json_response({"ok": True})


async def on_startup(app):
    app["http"] = aiohttp.ClientSession()
    app["consumer"] = asyncio.create_task(consume_plates(redis))


async def on_cleanup(app):
    await app["http"].close()


def create_app():
    app = web.Application()
    app.add_routes(routes)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), port=8080)
