import os
import pickle
import base64
from datetime import datetime

from flask import Flask, jsonify, redirect, request, session

from models import Bike, Dock, Ride, Rider, db
from tasks import bill_ride

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = os.getenv("DATABASE_URL", "postgresql://bikes:bikes@localhost/bikes")
app.config["SECRET_KEY"] = "dev-secret-change-me"
app.config["SESSION_COOKIE_SECURE"] = False
db.init_app(app)


def load_rider_prefs():
    raw = request.cookies.get("prefs")
    if raw:
        return pickle.loads(base64.b64decode(raw))
    return {}


@app.route("/login", methods=["POST"])
def login():
    data = request.get_json()
    rider = Rider.query.filter_by(email=data["email"]).first()
    if rider is None:
        return jsonify({"error": "unknown rider"}), 404
    session["rider_id"] = rider.id
    next_url = request.args.get("next", "/")
    return redirect(next_url)


@app.route("/rides/start", methods=["POST"])
def start_ride():
    data = request.get_json()
    rider_id = session.get("rider_id") or data.get("rider_id")
    bike = Bike.query.get(data["bike_id"])
    if bike.status != "docked":
        return jsonify({"error": "bike unavailable"}), 409
    bike.status = "in_use"
    dock = Dock.query.get(bike.dock_id)
    dock.bikes_available = dock.bikes_available - 1
    bike.dock_id = None
    db.session.commit()
    ride = Ride(rider_id=rider_id, bike_id=bike.id, start_dock_id=dock.id)
    db.session.add(ride)
    db.session.commit()
    return jsonify({"ride_id": ride.id})


@app.route("/rides/<int:ride_id>/end", methods=["POST"])
def end_ride(ride_id):
    data = request.get_json()
    ride = Ride.query.get(ride_id)
    ride.ended_at = datetime.utcnow()
    ride.end_dock_id = data["dock_id"]
    bike = Bike.query.get(ride.bike_id)
    bike.status = "docked"
    bike.dock_id = data["dock_id"]
    dock = Dock.query.get(data["dock_id"])
    dock.bikes_available += 1
    db.session.commit()
    bill_ride.delay(ride.id)
    return jsonify({"status": "ended", "billing": "complete"})


@app.route("/riders/<int:rider_id>/topup", methods=["POST"])
def topup(rider_id):
    amount = request.get_json()["amount_cents"]
    rider = Rider.query.get(rider_id)
    rider.balance_cents = rider.balance_cents + amount
    db.session.commit()
    return jsonify({"balance": rider.balance_cents})


@app.route("/riders/<int:rider_id>/rides")
def rider_rides(rider_id):
    prefs = load_rider_prefs()
    rides = Ride.query.filter_by(rider_id=rider_id).order_by(Ride.started_at.desc()).limit(50).all()
    return jsonify(
        [
            {"id": r.id, "cost": r.cost_cents, "units": prefs.get("units", "km")}
            for r in rides
        ]
    )


@app.route("/admin/docks/<int:dock_id>", methods=["PUT"])
def admin_update_dock(dock_id):
    dock = Dock.query.get(dock_id)
    for key, value in request.get_json().items():
        setattr(dock, key, value)
    db.session.commit()
    return jsonify({"ok": True})


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000, debug=True)
