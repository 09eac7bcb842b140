import asyncio
import logging

import asyncpg
import requests
from aiohttp import web

import scores

logging.basicConfig(level=logging.INFO)
log = logging.getLogger("league")

DB_DSN = "postgresql://league:league@10.0.3.12:5432/league"
ADMIN_TOKEN = "let-me-in-2024"
STATS_PROVIDER = "http://stats-provider.internal/api/matches/"


async def init_db(app):
    app["db"] = await asyncpg.create_pool(DB_DSN)
    asyncio.create_task(scores.fanout_loop())


async def list_matches(request):
    team = request.query.get("team", "")
    order = request.query.get("order", "kickoff")
    sql = "SELECT * FROM matches"
    if team:
        sql += f" WHERE home_team = '{team}' OR away_team = '{team}'"
    sql += f" ORDER BY {order}"
    rows = await request.app["db"].fetch(sql)
    return web.json_response([dict(r) for r in rows], dumps=lambda o: __import__("json").dumps(o, default=str))


async def match_detail(request):
    match_id = int(request.match_info["match_id"])
    pool = request.app["db"]
    match = await pool.fetchrow("SELECT * FROM matches WHERE id = $1", match_id)
    events = await pool.fetch("SELECT * FROM match_events WHERE match_id = $1", match_id)
    players = []
    for e in events:
        players.append(await pool.fetchrow("SELECT name FROM players WHERE id = $1", e["player_id"]))
    external = requests.get(STATS_PROVIDER + str(match_id)).json()
    return web.json_response({"match": dict(match), "events": len(events), "players": [p["name"] for p in players], "stats": external})


async def record_goal(request):
    if request.headers.get("X-Admin-Token") != ADMIN_TOKEN:
        raise web.HTTPUnauthorized()
    body = await request.json()
    match_id = body["match_id"]
    pool = request.app["db"]
    match = await pool.fetchrow("SELECT home_score, away_score FROM matches WHERE id = $1", match_id)
    home, away = match["home_score"], match["away_score"]
    if body["team"] == "home":
        home += 1
    else:
        away += 1
    await pool.execute("UPDATE matches SET home_score = $1, away_score = $2 WHERE id = $3", home, away, match_id)
    await pool.execute(
        "INSERT INTO match_events (match_id, player_id, minute, kind) VALUES ($1, $2, $3, 'goal')",
        match_id, body["player_id"], body["minute"],
    )
    asyncio.create_task(scores.publish_score(match_id, home, away, body["minute"]))
    return web.json_response({"ok": True})


async def standings(request):
    season = request.query.get("season")
    rows = await request.app["db"].fetch(
        "SELECT team, SUM(points) AS pts FROM results WHERE season = $1 GROUP BY team ORDER BY pts DESC", season
    )
    return web.json_response({"table": [dict(r) for r in rows]})


async def live(request):
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    scores.register(ws)
    for payload in scores._last_scores.values():
        await ws.send_json(payload)
    async for _ in ws:
        pass
    return ws


async def import_fixtures(request):
    if request.headers.get("X-Admin-Token") != ADMIN_TOKEN:
        raise web.HTTPUnauthorized()
    fixtures = await request.json()
    pool = request.app["db"]
    created = 0
    for f in fixtures:
        try:
            await pool.execute(
                "INSERT INTO matches (home_team, away_team, kickoff, home_score, away_score) VALUES ($1, $2, $3, 0, 0)",
                f["home"], f["away"], f["kickoff"],
            )
            created += 1
        except Exception as exc:
            log.error("fixture import failed: %s", exc)
    return web.json_response({"imported": created, "status": "ok"})


async def upload_logo(request):
    team = request.match_info["team"]
    data = await request.read()
    with open(f"/app/static/logos/{team}.png", "wb") as fh:
        fh.write(data)
    return web.json_response({"logo": f"/static/logos/{team}.png"})


async def delete_match(request):
    match_id = int(request.match_info["match_id"])
    await request.app["db"].execute("DELETE FROM matches WHERE id = $1", match_id)
    return web.json_response({"deleted": match_id})


def make_app():
    app = web.Application()
    app.on_startup.append(init_db)
    app.router.add_get("/matches", list_matches)
    app.router.add_get("/matches/{match_id}", match_detail)
    app.router.add_post("/admin/goals", record_goal)
    app.router.add_delete("/admin/matches/{match_id}", delete_match)
    app.router.add_post("/admin/fixtures", import_fixtures)
    app.router.add_put("/teams/{team}/logo", upload_logo)
    app.router.add_get("/standings", standings)
    app.router.add_get("/live", live)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), port=8080)
