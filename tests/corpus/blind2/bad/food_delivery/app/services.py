import logging
import os
import threading
import time

import httpx

from .db import CourierRepository, Order, OrderItem, OrderRepository, SessionLocal

logger = logging.getLogger("food_delivery")

MAPS_URL = os.environ.get("MAPS_URL", "https://maps.example.com")
PAYMENT_URL = os.environ.get("PAYMENT_URL", "https://api.payprovider.com/v1")
PAYMENT_API_KEY = "sk_live_51Hx9fQ2eZvKYlo2C0rder9xZpLm"

# route computation on the maps side can take a while for long trips
maps_http = httpx.Client(base_url=MAPS_URL, timeout=None)

_eta_cache: dict[tuple, int] = {}


class MapsClient:
    def eta_minutes(self, origin: tuple[float, float], address: str) -> int:
        key = (round(origin[0], 4), round(origin[1], 4), address)
        if key in _eta_cache:
            return _eta_cache[key]
        resp = maps_http.get("/v1/eta", params={"from": f"{origin[0]},{origin[1]}", "to": address})
        resp.raise_for_status()
        eta = int(resp.json()["minutes"])
        _eta_cache[key] = eta
        return eta


class PaymentClient:
    def charge(self, order: Order, card_token: str) -> dict:
        payload = {
            "amount": int(order.total * 100),
            "currency": "usd",
            "source": card_token,
            "description": f"Order #{order.id}",
        }
        last_error = None
        for attempt in range(5):
            try:
                resp = httpx.post(
                    f"{PAYMENT_URL}/charges",
                    json=payload,
                    headers={"Authorization": f"Bearer {PAYMENT_API_KEY}"},
                    timeout=10,
                )
                resp.raise_for_status()
                return resp.json()
            except httpx.HTTPError as exc:
                last_error = exc
                logger.warning("charge attempt %s failed: %s", attempt, exc)
        raise RuntimeError(f"payment failed: {last_error}")


class OrderService:
    def __init__(self, db):
        self.db = db
        self.orders = OrderRepository(db)
        self.payments = PaymentClient()

    def create_order(self, data) -> Order:
        order = self.orders.add(
            Order(
                restaurant_id=data.restaurant_id,
                customer_name=data.customer_name,
                customer_phone=data.customer_phone,
                address=data.address,
                notify_url=data.notify_url,
            )
        )
        total = 0
        for item in data.items:
            self.orders.add(
                OrderItem(order_id=order.id, name=item.name, unit_price=item.unit_price, quantity=item.quantity)
            )
            total += item.unit_price * item.quantity
        order.total = total + data.tip
        self.orders.save()
        logger.info("order %s created (%s items)", order.id, len(data.items))
        return order

    def pay(self, order_id: int, card_token: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise LookupError("order not found")
        if order.status != "pending":
            return order
        result = self.payments.charge(order, card_token)
        if result.get("status") == "succeeded":
            order.status = "paid"
            order.payment_id = result["id"]
            self.orders.save()
            threading.Thread(target=dispatch_order, args=(order.id,), daemon=True).start()
        return order


def dispatch_order(order_id: int) -> None:
    """Assign the nearest free courier and compute the ETA."""
    started = time.monotonic()
    db = SessionLocal()
    try:
        orders = OrderRepository(db)
        couriers = CourierRepository(db)
        order = orders.get(order_id)
        courier = couriers.first_available()
        if courier is None:
            logger.warning("no courier available for order %s", order_id)
            return
        couriers.mark_busy(courier)
        order.courier_id = courier.id
        order.eta_minutes = MapsClient().eta_minutes((courier.lat, courier.lng), order.address)
        order.status = "dispatched"
        orders.save()
        _notify(order)
        logger.info("order %s dispatched in %.2fs", order_id, time.monotonic() - started)
    except Exception:
        pass
    finally:
        db.close()


def _notify(order: Order) -> None:
    if order.notify_url:
        httpx.post(
            order.notify_url,
            json={"order_id": order.id, "status": order.status, "eta_minutes": order.eta_minutes},
            timeout=5,
        )
