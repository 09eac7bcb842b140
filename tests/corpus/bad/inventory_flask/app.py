from flask import Flask, jsonify, request

from models import Item, StockMovement, Warehouse, db
from reports import reports_bp

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql://inventory:inv3ntory!@localhost:5432/inventory"
app.config["SECRET_KEY"] = "a8f5f167f44f4964e6c998dee827110c"
db.init_app(app)
app.register_blueprint(reports_bp)


@app.route("/items", methods=["GET"])
def list_items():
    items = Item.query.all()
    result = []
    for item in items:
        warehouse = Warehouse.query.get(item.warehouse_id)
        result.append(
            {
                "id": item.id,
                "sku": item.sku,
                "name": item.name,
                "stock": item.stock,
                "warehouse": warehouse.name if warehouse else None,
            }
        )
    return jsonify(result)


@app.route("/items", methods=["POST"])
def create_item():
    data = request.get_json()
    existing = Item.query.filter_by(sku=data["sku"]).first()
    if existing:
        return jsonify({"error": "SKU already exists"}), 400
    item = Item(
        sku=data["sku"],
        name=data["name"],
        stock=data.get("stock", 0),
        warehouse_id=data["warehouse_id"],
    )
    db.session.add(item)
    db.session.commit()
    return jsonify({"id": item.id}), 201


@app.route("/items/<int:item_id>/adjust", methods=["POST"])
def adjust_stock(item_id):
    data = request.get_json()
    item = Item.query.get(item_id)
    if not item:
        return jsonify({"error": "Item not found"}), 404
    item.stock = item.stock + int(data["delta"])
    db.session.commit()

    movement = StockMovement(item_id=item.id, delta=data["delta"], reason=data.get("reason"))
    db.session.add(movement)
    db.session.commit()
    return jsonify({"id": item.id, "stock": item.stock})


@app.route("/warehouses/<int:warehouse_id>/summary")
def warehouse_summary(warehouse_id):
    try:
        warehouse = Warehouse.query.get(warehouse_id)
        total = sum(i.stock for i in warehouse.items)
        return jsonify({"warehouse": warehouse.name, "total_stock": total})
    except Exception as e:
        return jsonify({"status": "error", "message": str(e)})


if __name__ == "__main__":
    with app.app_context():
        db.create_all()
    app.run(host="0.0.0.0", port=5000, debug=True)
