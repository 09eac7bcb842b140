import logging
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import text

from .config import load_settings
from .db import CourierRepository, Order, OrderRepository, get_sessionmaker
from .services import Conflict, OrderService, PaymentClient, PaymentDeclined, PaymentUnavailable

logging.basicConfig(level=logging.INFO, format='{"ts":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}')
logger = logging.getLogger("food_delivery.api")

settings = load_settings()
payments = PaymentClient(settings)
app = FastAPI(title="Food Delivery API")


def get_db():
    with get_sessionmaker()() as db:
        yield db


class ItemIn(BaseModel):
    menu_item_id: int = Field(gt=0)
    quantity: int = Field(ge=1, le=50)


class OrderIn(BaseModel):
    restaurant_id: int = Field(gt=0)
    customer_name: str = Field(min_length=1, max_length=120)
    customer_phone: str = Field(pattern=r"^\+?[0-9 ()-]{6,20}$")
    address: str = Field(min_length=5, max_length=255)
    items: list[ItemIn] = Field(min_length=1, max_length=50)
    tip: float = Field(default=0, ge=0, le=500)
    notify_url: str | None = Field(default=None, max_length=500)

    @field_validator("tip")
    @classmethod
    def two_decimals(cls, v: float) -> float:
        return round(v, 2)


class PayIn(BaseModel):
    card_token: str = Field(min_length=8, max_length=128)


class OrderOut(BaseModel):
    id: int
    status: str
    total: str
    courier: str | None
    eta_minutes: int | None
    items: list[dict]


def serialize(order: Order) -> OrderOut:
    return OrderOut(
        id=order.id,
        status=order.status,
        total=str(order.total),
        courier=order.courier.name if order.courier else None,
        eta_minutes=order.eta_minutes,
        items=[{"name": i.name, "quantity": i.quantity} for i in order.items],
    )


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.get("/readyz")
def readyz(db=Depends(get_db)):
    try:
        db.execute(text("SELECT 1"))
    except Exception:
        logger.exception("readiness check failed")
        raise HTTPException(status_code=503, detail="database unavailable")
    return {"status": "ready"}


@app.post("/orders", response_model=OrderOut, status_code=201)
def create_order(payload: OrderIn, db=Depends(get_db)):
    try:
        order = OrderService(db, settings, payments).create_order(payload)
    except LookupError as exc:
        raise HTTPException(status_code=422, detail=str(exc))
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc))
    return serialize(OrderRepository(db).get(order.id))


@app.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: int, db=Depends(get_db)):
    order = OrderRepository(db).get(order_id)
    if order is None:
        raise HTTPException(status_code=404, detail="order not found")
    return serialize(order)


@app.get("/restaurants/{restaurant_id}/orders", response_model=list[OrderOut])
def restaurant_orders(
    restaurant_id: int,
    status: str | None = Query(default=None, max_length=20),
    limit: int = Query(default=50, ge=1, le=200),
    before_id: int | None = Query(default=None, gt=0),
    db=Depends(get_db),
):
    orders = OrderRepository(db).list_for_restaurant(restaurant_id, status, limit, before_id)
    return [serialize(o) for o in orders]


@app.get("/restaurants/{restaurant_id}/orders/search")
def search_orders(restaurant_id: int, q: Annotated[str, Query(min_length=2, max_length=100)], db=Depends(get_db)):
    return [{"id": o.id, "status": o.status, "created_at": o.created_at.isoformat()}
            for o in OrderRepository(db).search(restaurant_id, q)]


@app.post("/orders/{order_id}/pay", response_model=OrderOut)
def pay_order(order_id: int, body: PayIn, db=Depends(get_db)):
    try:
        order = OrderService(db, settings, payments).pay(order_id, body.card_token)
    except LookupError:
        raise HTTPException(status_code=404, detail="order not found")
    except Conflict as exc:
        raise HTTPException(status_code=409, detail=str(exc))
    except PaymentDeclined as exc:
        raise HTTPException(status_code=402, detail=f"payment declined: {exc}")
    except PaymentUnavailable:
        raise HTTPException(status_code=503, detail="payment provider unavailable, retry later")
    return serialize(OrderRepository(db).get(order.id))


@app.post("/couriers/{courier_id}/delivered", status_code=204)
def courier_delivered(courier_id: int, db=Depends(get_db)):
    with db.begin():
        released = CourierRepository(db).release(courier_id)
    if not released:
        raise HTTPException(status_code=409, detail="courier not busy or unknown")
