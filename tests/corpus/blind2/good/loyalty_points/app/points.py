import hmac
import logging
from functools import wraps

from flask import Blueprint, abort, current_app, jsonify, request

from . import db

logger = logging.getLogger(__name__)

points_bp = Blueprint("points", __name__)
admin_bp = Blueprint("admin", __name__)


def _json_body():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, description="JSON object body required")
    return data


def _points(data, field="points"):
    value = data.get(field)
    limit = current_app.config["SETTINGS"].max_points_per_txn
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
        abort(400, description=f"{field} must be an integer between 1 and {limit}")
    return value


def _reference(data, field):
    ref = request.headers.get("Idempotency-Key") or data.get(field)
    if not isinstance(ref, str) or not 1 <= len(ref) <= 100:
        abort(400, description=f"{field} or Idempotency-Key header (1-100 chars) required")
    return ref


def require_admin(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        expected = current_app.config["SETTINGS"].admin_token
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(supplied.encode(), expected.encode()):
            abort(401)
        return view(*args, **kwargs)
    return wrapper


@points_bp.get("/members/<int:member_id>")
def member_detail(member_id):
    member = db.get_member(member_id)
    if not member:
        abort(404)
    return jsonify(member)


@points_bp.post("/members/<int:member_id>/earn")
def earn(member_id):
    data = _json_body()
    points = _points(data)
    reference = _reference(data, "order_ref")
    try:
        balance, applied = db.earn(member_id, points, reference)
    except db.MemberNotFound:
        abort(404)
    logger.info("points earned", extra={"member_id": member_id, "points": points, "applied": applied})
    return jsonify(member_id=member_id, balance=balance, applied=applied), (201 if applied else 200)


@points_bp.post("/members/<int:member_id>/redeem")
def redeem(member_id):
    data = _json_body()
    points = _points(data)
    reference = _reference(data, "reward_code")
    try:
        balance, applied = db.redeem(member_id, points, reference)
    except db.MemberNotFound:
        abort(404)
    except db.InsufficientPoints as exc:
        return jsonify(error="insufficient points", balance=exc.balance), 409
    logger.info("points redeemed", extra={"member_id": member_id, "points": points, "applied": applied})
    return jsonify(member_id=member_id, balance=balance, applied=applied), (201 if applied else 200)


@points_bp.get("/members/<int:member_id>/history")
def history(member_id):
    limit = request.args.get("limit", 50, type=int)
    offset = request.args.get("offset", 0, type=int)
    if not 1 <= limit <= 200 or not 0 <= offset <= 10_000:
        abort(400, description="limit must be 1-200, offset 0-10000")
    try:
        rows = db.fetch_history(member_id, request.args.get("sort", "created_at"), request.args.get("dir", "desc"),
                                limit, offset)
    except ValueError:
        abort(400, description="sort must be created_at|points|kind and dir asc|desc")
    return jsonify([dict(r, created_at=r["created_at"].isoformat()) for r in rows])


@admin_bp.post("/members/<int:member_id>/adjust")
@require_admin
def adjust(member_id):
    data = _json_body()
    delta = data.get("delta")
    if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0 or abs(delta) > 1_000_000:
        abort(400, description="delta must be a non-zero integer within +/-1000000")
    reason = str(data.get("reason", ""))[:150]
    if not reason:
        abort(400, description="reason required")
    try:
        balance = db.adjust(member_id, delta, reason, actor="admin-api")
    except db.MemberNotFound:
        abort(404)
    logger.info("balance adjusted", extra={"member_id": member_id, "delta": delta})
    return jsonify(member_id=member_id, balance=balance)
