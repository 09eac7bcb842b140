import logging.config
import os

import boto3
from botocore.config import Config as BotoConfig
from flask import Flask, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from inventory.models import db


def _require(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"missing required environment variable {name}")
    return value


def create_app() -> Flask:
    logging.config.dictConfig(
        {
            "version": 1,
            "formatters": {
                "json": {
                    "()": "pythonjsonlogger.jsonlogger.JsonFormatter",
                    "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                }
            },
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
            "root": {"level": os.environ.get("LOG_LEVEL", "INFO"), "handlers": ["stderr"]},
        }
    )
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_require("INVENTORY_SECRET_KEY"),
        SQLALCHEMY_DATABASE_URI=_require("INVENTORY_DATABASE_URL"),
        SQLALCHEMY_ENGINE_OPTIONS={
            "pool_size": 5,
            "max_overflow": 5,
            "pool_timeout": 5,
            "pool_pre_ping": True,
            "connect_args": {"connect_timeout": 5, "options": "-c statement_timeout=5000"},
        },
        MAX_CONTENT_LENGTH=10 * 1024 * 1024,
        REPORTS_BUCKET=_require("INVENTORY_REPORTS_BUCKET"),
    )
    db.init_app(app)
    app.extensions["s3"] = boto3.client(
        "s3",
        config=BotoConfig(
            connect_timeout=2, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}
        ),
    )

    from inventory.health import health_bp
    from inventory.items import items_bp
    from inventory.reports import reports_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(items_bp, url_prefix="/v1")
    app.register_blueprint(reports_bp, url_prefix="/v1")

    @app.errorhandler(ValidationError)
    def validation_error(exc: ValidationError):
        return jsonify({"error": {"code": "invalid_request", "fields": exc.messages}}), 422

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify({"error": {"code": exc.name.lower().replace(" ", "_")}}), exc.code

    return app
