import hmac
import json
import logging
import os
from urllib.parse import urlparse

from flask import Flask, abort, jsonify, redirect, request, session
from sqlalchemy import text, update
from werkzeug.security import check_password_hash

from models import Bike, Dock, Ride, Rider, db, utcnow
from tasks import bill_ride

logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format='{"ts":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}')
logger = logging.getLogger("bikes")


def _require_env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"missing required environment variable {name}")
    return value


app = Flask(__name__)
app.config.update(
    SQLALCHEMY_DATABASE_URI=_require_env("DATABASE_URL"),
    SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_size": 10, "pool_timeout": 5},
    SECRET_KEY=_require_env("SECRET_KEY"),
    SESSION_COOKIE_SECURE=True,
    SESSION_COOKIE_HTTPONLY=True,
    SESSION_COOKIE_SAMESITE="Lax",
)
ADMIN_TOKEN = _require_env("ADMIN_TOKEN")
db.init_app(app)

ALLOWED_PREF_UNITS = {"km", "mi"}
MAX_TOPUP_CENTS = 50_000


def load_rider_prefs():
    raw = request.cookies.get("prefs", "")
    try:
        prefs = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    units = prefs.get("units") if isinstance(prefs, dict) else None
    return {"units": units if units in ALLOWED_PREF_UNITS else "km"}


def json_body(*required):
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or any(k not in data for k in required):
        abort(400, description=f"JSON body with {', '.join(required)} required")
    return data


def current_rider_id():
    rider_id = session.get("rider_id")
    if rider_id is None:
        abort(401)
    return rider_id


def safe_next(url):
    parsed = urlparse(url or "/")
    if parsed.scheme or parsed.netloc or not (url or "/").startswith("/") or url.startswith("//"):
        return "/"
    return url


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.get("/readyz")
def readyz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        logger.exception("readiness check failed")
        return jsonify(status="unavailable"), 503
    return jsonify(status="ready")


@app.post("/login")
def login():
    data = json_body("email", "password")
    rider = Rider.query.filter_by(email=str(data["email"]).lower()).first()
    if rider is None or not check_password_hash(rider.password_hash, str(data["password"])):
        return jsonify(error="invalid credentials"), 401
    session.clear()
    session["rider_id"] = rider.id
    return redirect(safe_next(request.args.get("next")))


@app.post("/rides/start")
def start_ride():
    rider_id = current_rider_id()
    data = json_body("bike_id")
    if not isinstance(data["bike_id"], int):
        abort(400, description="bike_id must be an integer")
    bike = Bike.query.filter_by(id=data["bike_id"]).with_for_update().first()
    if bike is None:
        abort(404)
    if bike.status != "docked" or bike.dock_id is None:
        db.session.rollback()
        return jsonify(error="bike unavailable"), 409
    start_dock_id = bike.dock_id
    bike.status = "in_use"
    bike.dock_id = None
    db.session.execute(
        update(Dock).where(Dock.id == start_dock_id).values(bikes_available=Dock.bikes_available - 1)
    )
    ride = Ride(rider_id=rider_id, bike_id=bike.id, start_dock_id=start_dock_id)
    db.session.add(ride)
    db.session.commit()
    logger.info("ride started", extra={"ride_id": ride.id})
    return jsonify(ride_id=ride.id), 201


@app.post("/rides/<int:ride_id>/end")
def end_ride(ride_id):
    rider_id = current_rider_id()
    data = json_body("dock_id")
    ride = Ride.query.filter_by(id=ride_id, rider_id=rider_id).with_for_update().first()
    if ride is None:
        abort(404)
    if ride.ended_at is not None:
        return jsonify(status="ended", billing=ride.billing_status)
    dock = db.session.get(Dock, data["dock_id"]) if isinstance(data["dock_id"], int) else None
    if dock is None:
        abort(400, description="unknown dock")
    ride.ended_at = utcnow()
    ride.end_dock_id = dock.id
    db.session.execute(update(Bike).where(Bike.id == ride.bike_id).values(status="docked", dock_id=dock.id))
    db.session.execute(update(Dock).where(Dock.id == dock.id).values(bikes_available=Dock.bikes_available + 1))
    db.session.commit()
    bill_ride.delay(ride.id)
    return jsonify(status="ended", billing="pending"), 202


@app.post("/riders/me/topup")
def topup():
    rider_id = current_rider_id()
    amount = json_body("amount_cents")["amount_cents"]
    if not isinstance(amount, int) or isinstance(amount, bool) or not 100 <= amount <= MAX_TOPUP_CENTS:
        abort(400, description=f"amount_cents must be an integer between 100 and {MAX_TOPUP_CENTS}")
    db.session.execute(
        update(Rider).where(Rider.id == rider_id).values(balance_cents=Rider.balance_cents + amount)
    )
    db.session.commit()
    balance = db.session.get(Rider, rider_id).balance_cents
    return jsonify(balance=balance)


@app.get("/riders/me/rides")
def rider_rides():
    rider_id = current_rider_id()
    prefs = load_rider_prefs()
    limit = min(request.args.get("limit", 50, type=int), 200)
    rides = Ride.query.filter_by(rider_id=rider_id).order_by(Ride.started_at.desc()).limit(limit).all()
    return jsonify([{"id": r.id, "cost": r.cost_cents, "units": prefs["units"]} for r in rides])


ADMIN_DOCK_FIELDS = {"name": str, "capacity": int}


@app.put("/admin/docks/<int:dock_id>")
def admin_update_dock(dock_id):
    token = request.headers.get("X-Admin-Token", "")
    if not hmac.compare_digest(token, ADMIN_TOKEN):
        abort(403)
    dock = db.session.get(Dock, dock_id) or abort(404)
    data = json_body()
    for key, value in data.items():
        expected = ADMIN_DOCK_FIELDS.get(key)
        if expected is None or not isinstance(value, expected):
            abort(400, description=f"field {key} not allowed")
        if key == "capacity" and not 1 <= value <= 100:
            abort(400, description="capacity must be between 1 and 100")
        setattr(dock, key, value)
    db.session.commit()
    logger.info("dock updated", extra={"dock_id": dock_id, "fields": sorted(data)})
    return jsonify(ok=True)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=5000)
