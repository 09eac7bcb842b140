from datetime import datetime

from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


class Rider(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(200), unique=True)
    phone = db.Column(db.String(30))
    balance_cents = db.Column(db.Integer, default=0)
    card_token = db.Column(db.String(100))


class Dock(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(100))
    capacity = db.Column(db.Integer)
    bikes_available = db.Column(db.Integer, default=0)


class Bike(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    dock_id = db.Column(db.Integer, db.ForeignKey("dock.id"), nullable=True)
    status = db.Column(db.String(20), default="docked")


class Ride(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    rider_id = db.Column(db.Integer, db.ForeignKey("rider.id"))
    bike_id = db.Column(db.Integer, db.ForeignKey("bike.id"))
    start_dock_id = db.Column(db.Integer)
    end_dock_id = db.Column(db.Integer)
    started_at = db.Column(db.DateTime, default=datetime.utcnow)
    ended_at = db.Column(db.DateTime)
    cost_cents = db.Column(db.Integer)
    billed = db.Column(db.Boolean, default=False)

    rider = db.relationship("Rider")
