import logging

from flask import Blueprint, abort, jsonify, request

from . import db

logger = logging.getLogger(__name__)

points_bp = Blueprint("points", __name__)
admin_bp = Blueprint("admin", __name__)


@points_bp.get("/members/<int:member_id>")
def member_detail(member_id):
    member = db.get_member(member_id)
    if not member:
        abort(404)
    member["balance"] = db.get_balance(member_id)
    return jsonify(member)


@points_bp.post("/members/<int:member_id>/earn")
def earn(member_id):
    data = request.get_json()
    points = int(data["points"])
    balance = db.get_balance(member_id)
    db.record_transaction(member_id, "earn", points, data.get("order_ref"))
    db.set_balance(member_id, balance + points)
    logger.info("member %s earned %s points", member_id, points)
    return jsonify({"member_id": member_id, "balance": balance + points})


@points_bp.post("/members/<int:member_id>/redeem")
def redeem(member_id):
    data = request.get_json()
    points = int(data["points"])
    balance = db.get_balance(member_id)
    if balance < points:
        return jsonify({"error": "insufficient points", "balance": balance}), 400
    db.deduct_balance(member_id, points)
    db.record_transaction(member_id, "redeem", -points, data.get("reward_code"))
    return jsonify({"member_id": member_id, "balance": balance - points})


@points_bp.get("/members/<int:member_id>/history")
def history(member_id):
    sort = request.args.get("sort", "created_at")
    direction = request.args.get("dir", "desc")
    rows = db.fetch_history(member_id, sort, direction)
    return jsonify([dict(r, created_at=r["created_at"].isoformat()) for r in rows])


@admin_bp.post("/members/<int:member_id>/adjust")
def adjust(member_id):
    data = request.get_json()
    balance = db.get_balance(member_id)
    new_balance = balance + int(data["delta"])
    db.record_transaction(member_id, "adjust", int(data["delta"]), data.get("reason", "manual"))
    db.set_balance(member_id, new_balance)
    return jsonify({"member_id": member_id, "balance": new_balance})
