import hmac
import logging
import os
from datetime import datetime, timedelta, timezone

from flask import Flask, abort, jsonify, request

from energy.db import _require_env, build_filters, parse_ts, query_readings, transaction

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
logger = logging.getLogger("energy.api")

ADMIN_TOKEN = _require_env("ADMIN_TOKEN")
MAX_PAGE = 1000

app = Flask(__name__)


def _int_arg(name, default, lo, hi):
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        abort(400, f"{name} must be an integer")
    if not lo <= value <= hi:
        abort(400, f"{name} must be between {lo} and {hi}")
    return value


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.get("/readyz")
def readyz():
    try:
        with transaction() as cur:
            cur.execute("SELECT 1")
    except Exception:
        logger.exception("readiness check failed")
        return {"status": "unavailable"}, 503
    return {"status": "ready"}


@app.get("/readings")
def readings():
    try:
        start, end = parse_ts(request.args.get("start")), parse_ts(request.args.get("end"))
        after = parse_ts(request.args.get("after"))
    except ValueError:
        abort(400, "timestamps must be ISO-8601")
    where, params = build_filters(meter_id=request.args.get("meter_id"), start=start, end=end)
    limit = _int_arg("limit", 500, 1, MAX_PAGE)
    rows = query_readings(where, params, limit, after=after)
    items = [{"meter_id": r[0], "ts": r[1].isoformat(), "kwh": r[2], "voltage": r[3]} for r in rows]
    return jsonify({"items": items, "next_after": items[-1]["ts"] if len(items) == limit else None})


@app.get("/meters/<meter_id>/daily")
def daily_usage(meter_id):
    days = _int_arg("days", 30, 1, 366)
    with transaction() as cur:
        cur.execute(
            "SELECT date_trunc('day', ts) AS day, sum(kwh) FROM readings "
            "WHERE meter_id = %s AND ts > now() - make_interval(days => %s) GROUP BY day ORDER BY day",
            (meter_id, days),
        )
        rows = cur.fetchall()
    return jsonify([{"day": d.date().isoformat(), "kwh": float(k)} for d, k in rows])


@app.get("/meters")
def meters():
    limit = _int_arg("limit", 100, 1, 500)
    offset = _int_arg("offset", 0, 0, 10_000_000)
    with transaction() as cur:
        cur.execute(
            "SELECT m.id, m.address, r.ts, r.kwh FROM (SELECT id, address FROM meters ORDER BY id "
            "LIMIT %s OFFSET %s) m LEFT JOIN LATERAL (SELECT ts, kwh FROM readings "
            "WHERE meter_id = m.id ORDER BY ts DESC LIMIT 1) r ON TRUE ORDER BY m.id",
            (limit, offset),
        )
        rows = cur.fetchall()
    return jsonify([
        {"id": i, "address": a, "latest": {"ts": t.isoformat(), "kwh": k} if t else None}
        for i, a, t, k in rows
    ])


@app.post("/admin/purge")
def purge_old():
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(token, ADMIN_TOKEN):
        abort(401)
    body = request.get_json(silent=True) or {}
    try:
        before = datetime.fromisoformat(body["before"])
    except (KeyError, TypeError, ValueError):
        abort(400, "before must be an ISO-8601 timestamp")
    if before.tzinfo is None:
        before = before.replace(tzinfo=timezone.utc)
    if before > datetime.now(timezone.utc) - timedelta(days=30):
        abort(400, "refusing to purge the last 30 days")
    with transaction() as cur:
        cur.execute("DELETE FROM readings WHERE ts < %s", (before,))
        deleted = cur.rowcount
    logger.info("purged %s readings before %s", deleted, before.isoformat())
    return jsonify({"status": "ok", "deleted": deleted})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), debug=False)
