import logging

from flask import Flask, jsonify

from . import db
from .config import load_settings
from .points import admin_bp, points_bp

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
logger = logging.getLogger(__name__)


def create_app():
    settings = load_settings()
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024
    db.init(settings)

    app.register_blueprint(points_bp, url_prefix="/api")
    app.register_blueprint(admin_bp, url_prefix="/admin")

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        checks = {"database": db.ping_db(), "cache": db.ping_cache()}
        # the cache is optional: degrade rather than take the service out of rotation
        code = 200 if checks["database"] else 503
        return jsonify(status="ready" if code == 200 else "unavailable", checks=checks), code

    # The nightly expiry runs in a separate single-replica process: python -m app.scheduler
    return app
