import logging

from flask import Blueprint, abort, jsonify, request
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from inventory.models import Item, StockMovement, Warehouse, db
from inventory.schemas import ItemCreateSchema, PageSchema, StockAdjustmentSchema

logger = logging.getLogger(__name__)
items_bp = Blueprint("items", __name__)


@items_bp.get("/items")
def list_items():
    page = PageSchema().load(request.args)
    query = select(Item).options(joinedload(Item.warehouse)).order_by(Item.id)
    result = db.paginate(
        query, page=page["page"], per_page=page["per_page"], max_per_page=200, error_out=False
    )
    return jsonify(
        {
            "items": [
                {
                    "id": item.id,
                    "sku": item.sku,
                    "name": item.name,
                    "stock": item.stock,
                    "warehouse": item.warehouse.name,
                }
                for item in result.items
            ],
            "page": result.page,
            "pages": result.pages,
        }
    )


@items_bp.post("/items")
def create_item():
    data = ItemCreateSchema().load(request.get_json(silent=True) or {})
    if db.session.get(Warehouse, data["warehouse_id"]) is None:
        abort(422)
    item = Item(**data)
    db.session.add(item)
    try:
        db.session.commit()
    except IntegrityError:
        # sku is UNIQUE: the database, not a prior SELECT, decides who wins a race.
        db.session.rollback()
        return jsonify({"error": {"code": "sku_exists"}}), 409
    logger.info("item created", extra={"item_id": item.id, "sku": item.sku})
    return jsonify({"id": item.id, "sku": item.sku}), 201


@items_bp.post("/items/<int:item_id>/adjustments")
def adjust_stock(item_id: int):
    data = StockAdjustmentSchema().load(request.get_json(silent=True) or {})
    # One atomic UPDATE in the database (no read-modify-write in Python) and the movement row,
    # committed together.
    new_stock = db.session.execute(
        update(Item)
        .where(Item.id == item_id, Item.stock + data["delta"] >= 0)
        .values(stock=Item.stock + data["delta"])
        .returning(Item.stock)
    ).scalar_one_or_none()
    if new_stock is None:
        db.session.rollback()
        if db.session.get(Item, item_id) is None:
            abort(404)
        return jsonify({"error": {"code": "insufficient_stock"}}), 409
    db.session.add(StockMovement(item_id=item_id, delta=data["delta"], reason=data["reason"]))
    db.session.commit()
    logger.info("stock adjusted", extra={"item_id": item_id, "delta": data["delta"]})
    return jsonify({"id": item_id, "stock": new_stock})


@items_bp.get("/warehouses/<int:warehouse_id>/summary")
def warehouse_summary(warehouse_id: int):
    warehouse = db.get_or_404(Warehouse, warehouse_id)
    total, count = db.session.execute(
        select(func.coalesce(func.sum(Item.stock), 0), func.count(Item.id)).where(
            Item.warehouse_id == warehouse_id
        )
    ).one()
    return jsonify({"warehouse": warehouse.name, "total_stock": total, "items": count})
