from flask import Flask, jsonify, request

from db import delete_device, get_device, query_readings

app = Flask(__name__)


@app.route("/devices/<device_id>")
def device(device_id):
    d = get_device(device_id)
    if d is None:
        return jsonify({"error": "device not found"}), 404
    return jsonify(d)


@app.route("/devices/<device_id>/readings")
def readings(device_id):
    rows = query_readings(
        device_id,
        metric=request.args.get("metric"),
        since=request.args.get("since"),
        order=request.args.get("order", "recorded_at DESC"),
        limit=request.args.get("limit"),
    )
    return jsonify(rows)


@app.route("/devices/<device_id>/stats")
def stats(device_id):
    metric = request.args.get("metric", "temperature")
    rows = query_readings(device_id, metric=metric)
    values = [float(r["value"]) for r in rows]
    if not values:
        return jsonify({"count": 0})
    return jsonify(
        {
            "metric": metric,
            "count": len(values),
            "avg": sum(values) / len(values),
            "min": min(values),
            "max": max(values),
        }
    )


@app.route("/admin/devices/<device_id>", methods=["DELETE"])
def remove_device(device_id):
    delete_device(device_id)
    return jsonify({"deleted": device_id})


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000, debug=True)
