import logging

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from inventory.models import db

logger = logging.getLogger(__name__)
health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@health_bp.get("/readyz")
def readyz():
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        logger.warning("readiness check failed", exc_info=True)
        return jsonify({"status": "unavailable"}), 503
    return jsonify({"status": "ready"})
