import logging
import os

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from .db import expire_points
from .points import points_bp, admin_bp

logging.basicConfig(level=logging.INFO)

scheduler = BackgroundScheduler()


def create_app():
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.getenv("SECRET_KEY", "loyalty-dev-secret")
    app.config["POINTS_EXPIRY_DAYS"] = int(os.getenv("POINTS_EXPIRY_DAYS", "365"))

    app.register_blueprint(points_bp, url_prefix="/api")
    app.register_blueprint(admin_bp, url_prefix="/admin")

    scheduler.add_job(expire_points, "cron", hour=2, minute=0, args=[app.config["POINTS_EXPIRY_DAYS"]])
    scheduler.start()
    return app


if __name__ == "__main__":
    create_app().run(host="0.0.0.0", port=5000, debug=True)
