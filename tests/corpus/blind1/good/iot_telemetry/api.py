import hmac
import logging
import os
import re
import sys
from datetime import datetime, timezone
from functools import wraps

from flask import Flask, abort, jsonify, request
from pythonjsonlogger import jsonlogger

import db

handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(jsonlogger.JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), handlers=[handler])
logger = logging.getLogger("telemetry.api")

DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
METRIC_RE = re.compile(r"^[a-z0-9_]{1,64}$")
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000


def create_app() -> Flask:
    admin_token = os.environ.get("TELEMETRY_ADMIN_TOKEN", "")
    if len(admin_token) < 32:
        raise RuntimeError("TELEMETRY_ADMIN_TOKEN must be set (>= 32 chars)")
    db.init_pool(db.DbConfig.from_env())

    app = Flask(__name__)
    app.config["ADMIN_TOKEN"] = admin_token
    app.json.sort_keys = False
    return app


app = create_app()


def require_admin(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(supplied.encode(), app.config["ADMIN_TOKEN"].encode()):
            abort(403)
        return view(*args, **kwargs)
    return wrapper


def _device_id(raw: str) -> str:
    if not DEVICE_ID_RE.match(raw):
        abort(400, "invalid device id")
    return raw


def _metric(raw: str | None, required: bool = False) -> str | None:
    if raw is None and not required:
        return None
    if raw is None or not METRIC_RE.match(raw):
        abort(400, "invalid metric")
    return raw


def _since(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        abort(400, "since must be ISO-8601")
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.get("/readyz")
def readyz():
    try:
        db.ping()
    except Exception:
        logger.exception("readiness check failed")
        return jsonify(status="unavailable"), 503
    return jsonify(status="ready")


@app.get("/devices/<device_id>")
def device(device_id):
    d = db.get_device(_device_id(device_id))
    if d is None:
        return jsonify(error="device not found"), 404
    return jsonify(d)


@app.get("/devices/<device_id>/readings")
def readings(device_id):
    limit = request.args.get("limit", DEFAULT_LIMIT, type=int)
    if not 1 <= limit <= MAX_LIMIT:
        abort(400, f"limit must be 1..{MAX_LIMIT}")
    order = request.args.get("order", "-recorded_at")
    if order not in db.ORDERINGS:
        abort(400, f"order must be one of {sorted(db.ORDERINGS)}")
    rows = db.query_readings(
        _device_id(device_id),
        metric=_metric(request.args.get("metric")),
        since=_since(request.args.get("since")),
        order=order,
        limit=limit,
    )
    return jsonify(rows)


@app.get("/devices/<device_id>/stats")
def stats(device_id):
    metric = _metric(request.args.get("metric", "temperature"), required=True)
    result = db.reading_stats(_device_id(device_id), metric, _since(request.args.get("since")))
    return jsonify(metric=metric, **{k: (float(v) if v is not None and k != "count" else v) for k, v in result.items()})


@app.delete("/admin/devices/<device_id>")
@require_admin
def remove_device(device_id):
    device_id = _device_id(device_id)
    if not db.delete_device(device_id):
        return jsonify(error="device not found"), 404
    logger.info("device deleted", extra={"device_id": device_id, "remote_addr": request.remote_addr})
    return jsonify(deleted=device_id)


@app.errorhandler(Exception)
def unhandled(exc):
    if hasattr(exc, "code") and isinstance(getattr(exc, "code"), int):
        return exc
    logger.exception("unhandled error", extra={"path": request.path})
    return jsonify(error="internal error"), 500
