import logging
import math
import os

import requests
from celery import Celery
from sqlalchemy import func, update

from models import Bike, Dock, Ride, db

logger = logging.getLogger(__name__)

celery = Celery("bike_tasks", broker=os.environ["CELERY_BROKER_URL"])
celery.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=120,
    task_soft_time_limit=90,
)

PAYMENTS_URL = os.environ["PAYMENTS_URL"]
PAYMENTS_SECRET = os.environ["PAYMENTS_SECRET"]
RATE_PER_MINUTE = int(os.environ.get("RATE_PER_MINUTE", "15"))
BILLING_BATCH = 500


class PaymentRetryable(Exception):
    pass


def ride_cost(ride):
    minutes = math.ceil((ride.ended_at - ride.started_at).total_seconds() / 60)
    return 100 + max(minutes, 0) * RATE_PER_MINUTE


@celery.task(
    bind=True,
    autoretry_for=(PaymentRetryable,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def bill_ride(self, ride_id):
    from app import app

    with app.app_context():
        ride = db.session.get(Ride, ride_id)
        if ride is None or ride.ended_at is None:
            logger.warning("bill_ride skipped: ride not billable", extra={"ride_id": ride_id})
            return
        if ride.billing_status == "billed":
            return
        cost = ride_cost(ride)
        try:
            resp = requests.post(
                PAYMENTS_URL,
                json={"card": ride.rider.card_token, "amount": cost, "currency": "usd"},
                headers={"Authorization": f"Bearer {PAYMENTS_SECRET}", "Idempotency-Key": f"ride-{ride.id}"},
                timeout=(3, 10),
            )
        except requests.RequestException as exc:
            raise PaymentRetryable(str(exc)) from exc
        if resp.status_code >= 500 or resp.status_code == 429:
            raise PaymentRetryable(f"payments returned {resp.status_code}")
        if resp.status_code >= 400:
            ride.billing_status = "failed"
            db.session.commit()
            logger.error("charge declined", extra={"ride_id": ride.id, "status": resp.status_code})
            return
        ride.cost_cents = cost
        ride.billing_status = "billed"
        db.session.commit()
        logger.info("ride billed", extra={"ride_id": ride.id, "cost_cents": cost})


@celery.task
def rebalance_docks():
    from app import app

    with app.app_context():
        counts = dict(
            db.session.query(Bike.dock_id, func.count(Bike.id))
            .filter(Bike.status == "docked", Bike.dock_id.isnot(None))
            .group_by(Bike.dock_id)
            .all()
        )
        docks = Dock.query.order_by(Dock.id).all()
        overfull = [d for d in docks if counts.get(d.id, 0) > d.capacity * 0.8]
        underfull = [d for d in docks if counts.get(d.id, 0) < d.capacity * 0.2]
        for source, target in zip(overfull, underfull):
            move = counts[source.id] // 4
            try:
                with db.session.begin_nested():
                    bikes = (
                        Bike.query.filter_by(dock_id=source.id, status="docked")
                        .with_for_update(skip_locked=True)
                        .limit(move)
                        .all()
                    )
                    for bike in bikes:
                        bike.dock_id = target.id
                    db.session.execute(
                        update(Dock).where(Dock.id == source.id).values(bikes_available=Dock.bikes_available - len(bikes))
                    )
                    db.session.execute(
                        update(Dock).where(Dock.id == target.id).values(bikes_available=Dock.bikes_available + len(bikes))
                    )
                db.session.commit()
                logger.info("rebalanced", extra={"from": source.id, "to": target.id, "bikes": len(bikes)})
            except Exception:
                db.session.rollback()
                logger.exception("rebalance failed", extra={"from": source.id, "to": target.id})


@celery.task
def nightly_unbilled_sweep():
    from app import app

    with app.app_context():
        last_id = 0
        while True:
            ids = [
                r.id
                for r in Ride.query.with_entities(Ride.id)
                .filter(Ride.ended_at.isnot(None), Ride.billing_status == "pending", Ride.id > last_id)
                .order_by(Ride.id)
                .limit(BILLING_BATCH)
            ]
            if not ids:
                break
            for ride_id in ids:
                bill_ride.delay(ride_id)
            last_id = ids[-1]
        logger.info("unbilled sweep enqueued", extra={"last_id": last_id})
