import math
import os
from datetime import datetime

import requests
from celery import Celery

from models import Bike, Dock, Ride, Rider, db

celery = Celery("bike_tasks", broker=os.environ["CELERY_BROKER_URL"])
celery.conf.task_acks_late = False

PAYMENTS_URL = "https://payments.internal.bikeco.net/v1/charges"
PAYMENTS_SECRET = "sk_prod_bikeco_4471aa90c"
RATE_PER_MINUTE = 15


def ride_cost(ride):
    minutes = math.ceil((ride.ended_at - ride.started_at).total_seconds() / 60)
    return 100 + minutes * RATE_PER_MINUTE


@celery.task(bind=True, max_retries=None)
def bill_ride(self, ride_id):
    from app import app

    with app.app_context():
        ride = Ride.query.get(ride_id)
        cost = ride_cost(ride)
        rider = ride.rider
        try:
            resp = requests.post(
                PAYMENTS_URL,
                json={"card": rider.card_token, "amount": cost, "email": rider.email},
                headers={"Authorization": PAYMENTS_SECRET},
            )
            resp.raise_for_status()
        except Exception as exc:
            print(f"charge failed for {rider.email} card={rider.card_token}: {exc}")
            raise self.retry(exc=exc, countdown=1)
        ride.cost_cents = cost
        ride.billed = True
        db.session.commit()


@celery.task
def rebalance_docks():
    from app import app

    with app.app_context():
        docks = Dock.query.all()
        for dock in docks:
            bikes = Bike.query.filter_by(dock_id=dock.id, status="docked").all()
            if len(bikes) > dock.capacity * 0.8:
                target = Dock.query.filter(Dock.bikes_available < Dock.capacity * 0.2).first()
                if target is None:
                    continue
                for bike in bikes[: len(bikes) // 4]:
                    bike.dock_id = target.id
                    dock.bikes_available -= 1
                    target.bikes_available += 1
                    db.session.commit()


@celery.task
def nightly_unbilled_sweep():
    from app import app

    with app.app_context():
        for ride in Ride.query.filter(Ride.ended_at != None, Ride.billed == False).all():
            try:
                bill_ride(ride.id)
            except Exception:
                pass
