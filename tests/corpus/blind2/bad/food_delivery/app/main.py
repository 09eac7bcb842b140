import logging

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel

from .db import Order, OrderRepository, SessionLocal, CourierRepository
from .services import OrderService

logging.basicConfig(level=logging.INFO)

app = FastAPI(title="Food Delivery API", debug=True)


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


class ItemIn(BaseModel):
    name: str
    unit_price: float
    quantity: int


class OrderIn(BaseModel):
    restaurant_id: int
    customer_name: str
    customer_phone: str
    address: str
    items: list[ItemIn]
    tip: float = 0
    notify_url: str | None = None


class PayIn(BaseModel):
    card_token: str


def serialize(order: Order) -> dict:
    return {
        "id": order.id,
        "status": order.status,
        "total": str(order.total),
        "courier": order.courier.name if order.courier else None,
        "eta_minutes": order.eta_minutes,
        "items": [{"name": i.name, "quantity": i.quantity} for i in order.items],
    }


@app.post("/orders")
def create_order(payload: OrderIn, db=Depends(get_db)):
    order = OrderService(db).create_order(payload)
    return serialize(order)


@app.get("/orders/{order_id}")
def get_order(order_id: int, db=Depends(get_db)):
    order = OrderRepository(db).get(order_id)
    if order is None:
        raise HTTPException(status_code=404, detail="order not found")
    return serialize(order)


@app.get("/restaurants/{restaurant_id}/orders")
def restaurant_orders(restaurant_id: int, status: str | None = None, db=Depends(get_db)):
    orders = OrderRepository(db).list_for_restaurant(restaurant_id, status)
    return [serialize(o) for o in orders]


@app.get("/search/orders")
def search_orders(q: str, db=Depends(get_db)):
    return OrderRepository(db).search(q)


@app.post("/orders/{order_id}/pay")
def pay_order(order_id: int, body: PayIn, db=Depends(get_db)):
    try:
        order = OrderService(db).pay(order_id, body.card_token)
    except Exception as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "order": serialize(order)}


@app.post("/couriers/{courier_id}/delivered")
def courier_delivered(courier_id: int, db=Depends(get_db)):
    CourierRepository(db).release(courier_id)
    return {"ok": True}
