import asyncio
import hmac
import json
import logging
import os
import re

import aiohttp
import asyncpg
from aiohttp import web

from scores import ScoreHub, hub_from_env

logging.basicConfig(
    level=os.environ.get("LOG_LEVEL", "INFO"),
    format='{"ts":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}',
)
log = logging.getLogger("league")


def require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"required environment variable {name} is not set")
    return value


DB_DSN = require_env("DATABASE_URL")
ADMIN_TOKEN = require_env("ADMIN_TOKEN")
STATS_PROVIDER = require_env("STATS_PROVIDER_URL")
LOGO_MAX_BYTES = 512 * 1024
TEAM_SLUG = re.compile(r"^[a-z0-9-]{1,40}$")
ORDER_COLUMNS = {"kickoff": "kickoff", "home_team": "home_team", "away_team": "away_team"}

db_key = web.AppKey("db", asyncpg.Pool)
hub_key = web.AppKey("hub", ScoreHub)
http_key = web.AppKey("http", aiohttp.ClientSession)
fanout_key = web.AppKey("fanout", asyncio.Task)


def require_admin(request: web.Request) -> None:
    if not hmac.compare_digest(request.headers.get("X-Admin-Token", ""), ADMIN_TOKEN):
        raise web.HTTPUnauthorized()


async def read_json(request: web.Request, required: dict):
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise web.HTTPBadRequest(text="invalid JSON")
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="JSON object expected")
    for key, typ in required.items():
        if not isinstance(body.get(key), typ) or isinstance(body.get(key), bool):
            raise web.HTTPBadRequest(text=f"{key} must be {typ.__name__}")
    return body


async def lifecycle(app: web.Application):
    app[db_key] = await asyncpg.create_pool(DB_DSN, min_size=2, max_size=10, command_timeout=10)
    app[hub_key] = hub_from_env()
    app[http_key] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5, connect=2))
    app[fanout_key] = asyncio.create_task(app[hub_key].fanout_loop(), name="score-fanout")
    yield
    app[fanout_key].cancel()
    await asyncio.gather(app[fanout_key], return_exceptions=True)
    await app[http_key].close()
    await app[hub_key].close()
    await app[db_key].close()


async def list_matches(request):
    team = request.query.get("team")
    order = ORDER_COLUMNS.get(request.query.get("order", "kickoff"))
    if order is None:
        raise web.HTTPBadRequest(text="invalid order column")
    try:
        limit = min(max(int(request.query.get("limit", "50")), 1), 200)
    except ValueError:
        raise web.HTTPBadRequest(text="limit must be an integer")
    sql = "SELECT id, home_team, away_team, kickoff, home_score, away_score FROM matches"
    args = []
    if team:
        sql += " WHERE home_team = $1 OR away_team = $1"
        args.append(team)
    sql += f" ORDER BY {order} LIMIT {limit}"
    rows = await request.app[db_key].fetch(sql, *args)
    return web.json_response([dict(r) for r in rows], dumps=lambda o: json.dumps(o, default=str))


async def match_detail(request):
    match_id = int(request.match_info["match_id"])
    pool = request.app[db_key]
    match = await pool.fetchrow("SELECT id, home_team, away_team, kickoff, home_score, away_score FROM matches WHERE id = $1", match_id)
    if match is None:
        raise web.HTTPNotFound()
    players = await pool.fetch(
        "SELECT DISTINCT p.name FROM match_events e JOIN players p ON p.id = e.player_id WHERE e.match_id = $1",
        match_id,
    )
    events = await pool.fetchval("SELECT count(*) FROM match_events WHERE match_id = $1", match_id)
    stats = None
    try:
        async with request.app[http_key].get(f"{STATS_PROVIDER}/{match_id}") as resp:
            resp.raise_for_status()
            stats = await resp.json()
    except (aiohttp.ClientError, asyncio.TimeoutError):
        log.warning("stats provider unavailable for match %s", match_id)
    body = {"match": dict(match), "events": events, "players": [p["name"] for p in players], "stats": stats}
    return web.json_response(body, dumps=lambda o: json.dumps(o, default=str))


async def record_goal(request):
    require_admin(request)
    body = await read_json(request, {"match_id": int, "player_id": int, "minute": int, "team": str})
    if body["team"] not in ("home", "away") or not 0 <= body["minute"] <= 130:
        raise web.HTTPBadRequest(text="team must be home/away and minute 0-130")
    column = "home_score" if body["team"] == "home" else "away_score"
    pool = request.app[db_key]
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"UPDATE matches SET {column} = {column} + 1 WHERE id = $1 RETURNING home_score, away_score",
            body["match_id"],
        )
        if row is None:
            raise web.HTTPNotFound()
        await conn.execute(
            "INSERT INTO match_events (match_id, player_id, minute, kind) VALUES ($1, $2, $3, 'goal')",
            body["match_id"], body["player_id"], body["minute"],
        )
    try:
        await request.app[hub_key].publish_score(body["match_id"], row["home_score"], row["away_score"], body["minute"])
    except Exception:
        log.exception("failed to publish live score for match %s", body["match_id"])
        return web.json_response({"ok": True, "live_update": "failed"}, status=202)
    return web.json_response({"ok": True, "home": row["home_score"], "away": row["away_score"]})


async def standings(request):
    season = request.query.get("season")
    if not season or not re.fullmatch(r"\d{4}(-\d{2})?", season):
        raise web.HTTPBadRequest(text="season (e.g. 2025-26) is required")
    rows = await request.app[db_key].fetch(
        "SELECT team, SUM(points) AS pts FROM results WHERE season = $1 GROUP BY team ORDER BY pts DESC LIMIT 100", season
    )
    return web.json_response({"table": [dict(r) for r in rows]})


async def live(request):
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
    await ws.prepare(request)
    hub = request.app[hub_key]
    hub.register(ws)
    try:
        for payload in list(hub.last_scores.values()):
            await ws.send_json(payload)
        async for _ in ws:
            pass
    finally:
        hub.unregister(ws)
    return ws


async def import_fixtures(request):
    require_admin(request)
    try:
        fixtures = await request.json()
    except json.JSONDecodeError:
        raise web.HTTPBadRequest(text="invalid JSON")
    if not isinstance(fixtures, list) or not 1 <= len(fixtures) <= 1000:
        raise web.HTTPBadRequest(text="expected a list of 1-1000 fixtures")
    rows = []
    for i, f in enumerate(fixtures):
        if not isinstance(f, dict) or not all(isinstance(f.get(k), str) for k in ("home", "away", "kickoff")):
            raise web.HTTPBadRequest(text=f"fixture {i} needs string home, away, kickoff")
        rows.append((f["home"], f["away"], f["kickoff"]))
    async with request.app[db_key].acquire() as conn, conn.transaction():
        await conn.executemany(
            "INSERT INTO matches (home_team, away_team, kickoff, home_score, away_score) VALUES ($1, $2, $3::timestamptz, 0, 0)",
            rows,
        )
    log.info("imported %d fixtures", len(rows))
    return web.json_response({"imported": len(rows)}, status=201)


async def upload_logo(request):
    require_admin(request)
    team = request.match_info["team"]
    if not TEAM_SLUG.fullmatch(team):
        raise web.HTTPBadRequest(text="invalid team slug")
    if request.content_length is None or request.content_length > LOGO_MAX_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=LOGO_MAX_BYTES, actual_size=request.content_length or 0)
    data = await request.read()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise web.HTTPUnsupportedMediaType(text="PNG required")
    await request.app[db_key].execute(
        "INSERT INTO team_logos (team, png) VALUES ($1, $2) ON CONFLICT (team) DO UPDATE SET png = EXCLUDED.png",
        team, data,
    )
    return web.json_response({"logo": f"/teams/{team}/logo"})


async def delete_match(request):
    require_admin(request)
    match_id = int(request.match_info["match_id"])
    result = await request.app[db_key].execute("DELETE FROM matches WHERE id = $1", match_id)
    if result == "DELETE 0":
        raise web.HTTPNotFound()
    log.info("match %s deleted", match_id)
    return web.json_response({"deleted": match_id})


async def healthz(request):
    return web.json_response({"status": "ok"})


async def readyz(request):
    try:
        await request.app[db_key].fetchval("SELECT 1")
        await request.app[hub_key].redis.ping()
    except Exception:
        log.exception("readiness check failed")
        return web.json_response({"status": "unavailable"}, status=503)
    return web.json_response({"status": "ready"})


def make_app():
    app = web.Application(client_max_size=LOGO_MAX_BYTES)
    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/matches", list_matches)
    app.router.add_get(r"/matches/{match_id:\d+}", match_detail)
    app.router.add_post("/admin/goals", record_goal)
    app.router.add_delete(r"/admin/matches/{match_id:\d+}", delete_match)
    app.router.add_post("/admin/fixtures", import_fixtures)
    app.router.add_put("/teams/{team}/logo", upload_logo)
    app.router.add_get("/standings", standings)
    app.router.add_get("/live", live)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), port=int(os.environ.get("PORT", "8080")))
