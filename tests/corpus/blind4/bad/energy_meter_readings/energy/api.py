from flask import Flask, jsonify, request

from energy.db import build_filters, conn, query_readings

app = Flask(__name__)


@app.route("/readings")
def readings():
    where = build_filters(
        meter_id=request.args.get("meter_id"),
        start=request.args.get("start"),
        end=request.args.get("end"),
    )
    rows = query_readings(where)
    return jsonify(
        [{"meter_id": r[0], "ts": r[1].isoformat(), "kwh": r[2], "voltage": r[3]} for r in rows]
    )


@app.route("/meters/<meter_id>/daily")
def daily_usage(meter_id):
    days = int(request.args.get("days", 30))
    cur = conn.cursor()
    cur.execute(
        "SELECT date_trunc('day', ts) AS day, sum(kwh) FROM readings "
        "WHERE meter_id = %s AND ts > now() - (%s || ' days')::interval GROUP BY day ORDER BY day",
        (meter_id, days),
    )
    return jsonify([{"day": d.date().isoformat(), "kwh": float(k)} for d, k in cur.fetchall()])


@app.route("/meters")
def meters():
    cur = conn.cursor()
    cur.execute("SELECT id, address FROM meters")
    result = []
    for meter_id, address in cur.fetchall():
        cur.execute(
            "SELECT ts, kwh FROM readings WHERE meter_id = %s ORDER BY ts DESC LIMIT 1", (meter_id,)
        )
        latest = cur.fetchone()
        result.append({"id": meter_id, "address": address, "latest": latest})
    return jsonify(result)


@app.route("/admin/purge", methods=["POST"])
def purge_old():
    before = request.json.get("before")
    try:
        cur = conn.cursor()
        cur.execute("DELETE FROM readings WHERE ts < %s", (before,))
        conn.commit()
    except Exception:
        pass
    return jsonify({"status": "ok"})


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000, debug=True, threaded=True)
