from datetime import datetime, timezone

from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


def utcnow():
    return datetime.now(timezone.utc)


class Rider(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(200), unique=True, nullable=False)
    phone = db.Column(db.String(30))
    balance_cents = db.Column(db.Integer, default=0, nullable=False)
    card_token = db.Column(db.String(100))
    password_hash = db.Column(db.String(255), nullable=False)


class Dock(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(100), nullable=False)
    capacity = db.Column(db.Integer, nullable=False)
    bikes_available = db.Column(db.Integer, default=0, nullable=False)
    __table_args__ = (db.CheckConstraint("bikes_available >= 0 AND bikes_available <= capacity"),)


class Bike(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    dock_id = db.Column(db.Integer, db.ForeignKey("dock.id"), nullable=True, index=True)
    status = db.Column(db.String(20), default="docked", nullable=False)


class Ride(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    rider_id = db.Column(db.Integer, db.ForeignKey("rider.id"), nullable=False, index=True)
    bike_id = db.Column(db.Integer, db.ForeignKey("bike.id"), nullable=False)
    start_dock_id = db.Column(db.Integer, nullable=False)
    end_dock_id = db.Column(db.Integer)
    started_at = db.Column(db.DateTime(timezone=True), default=utcnow, nullable=False)
    ended_at = db.Column(db.DateTime(timezone=True))
    cost_cents = db.Column(db.Integer)
    billing_status = db.Column(db.String(20), default="pending", nullable=False)

    rider = db.relationship("Rider")
