"""Nightly points expiry. Deploy as exactly one replica; the advisory lock guards against overlap anyway."""
import logging

from apscheduler.schedulers.blocking import BlockingScheduler

from . import db
from .config import load_settings

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
logger = logging.getLogger(__name__)


def run_expiry(expiry_days: int) -> None:
    try:
        expired = db.expire_points(expiry_days)
        logger.info("points expiry finished", extra={"lots_expired": expired})
    except Exception:
        logger.exception("points expiry failed")
        raise


def main() -> None:
    settings = load_settings()
    db.init(settings)
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(run_expiry, "cron", hour=2, minute=0, args=[settings.expiry_days],
                      id="expire_points", max_instances=1, coalesce=True, misfire_grace_time=3600)
    scheduler.start()


if __name__ == "__main__":
    main()
