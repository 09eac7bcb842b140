import logging
import random
import threading
import time
from decimal import Decimal
from urllib.parse import urlparse

import httpx
from cachetools import TTLCache
from sqlalchemy import update

from .config import Settings
from .db import CourierRepository, Order, OrderItem, OrderRepository

logger = logging.getLogger("food_delivery.services")

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
MAX_DISPATCH_ATTEMPTS = 5


class PaymentDeclined(Exception):
    pass


class PaymentUnavailable(Exception):
    pass


class Conflict(Exception):
    pass


def _backoff(attempt: int) -> None:
    time.sleep(min(0.2 * 2 ** attempt, 3.0) + random.uniform(0, 0.1))


def is_allowed_notify_url(url: str, allowed_hosts: frozenset[str]) -> bool:
    parsed = urlparse(url)
    return parsed.scheme == "https" and (parsed.hostname or "").lower() in allowed_hosts


class MapsClient:
    def __init__(self, settings: Settings):
        self._http = httpx.Client(base_url=settings.maps_url, timeout=settings.http_timeout_seconds)
        self._cache: TTLCache = TTLCache(maxsize=settings.eta_cache_size, ttl=settings.eta_cache_ttl_seconds)
        self._lock = threading.Lock()

    def eta_minutes(self, origin: tuple[float, float], address: str) -> int:
        key = (round(origin[0], 3), round(origin[1], 3), address)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        for attempt in range(3):
            try:
                resp = self._http.get("/v1/eta", params={"from": f"{origin[0]},{origin[1]}", "to": address})
                if resp.status_code in RETRYABLE_STATUS and attempt < 2:
                    _backoff(attempt)
                    continue
                resp.raise_for_status()
                eta = int(resp.json()["minutes"])
                break
            except httpx.TransportError:
                if attempt == 2:
                    raise
                _backoff(attempt)
        with self._lock:
            self._cache[key] = eta
        return eta


class PaymentClient:
    def __init__(self, settings: Settings):
        self._http = httpx.Client(
            base_url=settings.payment_url,
            timeout=settings.http_timeout_seconds,
            headers={"Authorization": f"Bearer {settings.payment_api_key}"},
        )

    def charge(self, order: Order, card_token: str) -> dict:
        payload = {
            "amount": int((order.total * 100).to_integral_value()),
            "currency": "usd",
            "source": card_token,
            "metadata": {"order_id": order.id},
        }
        # Same key on every attempt: the provider returns the original charge instead of charging twice.
        headers = {"Idempotency-Key": f"order-{order.id}-charge"}
        for attempt in range(4):
            try:
                resp = self._http.post("/charges", json=payload, headers=headers)
            except httpx.TransportError as exc:
                logger.warning("payment transport error", extra={"order_id": order.id, "attempt": attempt, "error": str(exc)})
                if attempt == 3:
                    raise PaymentUnavailable("payment provider unreachable") from exc
                _backoff(attempt)
                continue
            if resp.status_code in RETRYABLE_STATUS:
                if attempt == 3:
                    raise PaymentUnavailable(f"payment provider returned {resp.status_code}")
                _backoff(attempt)
                continue
            if resp.status_code in (400, 402):
                raise PaymentDeclined(resp.json().get("error", {}).get("code", "declined"))
            resp.raise_for_status()
            return resp.json()
        raise PaymentUnavailable("payment retries exhausted")


class OrderService:
    def __init__(self, db, settings: Settings, payments: PaymentClient):
        self.db = db
        self.settings = settings
        self.orders = OrderRepository(db)
        self.payments = payments

    def create_order(self, data) -> Order:
        if data.notify_url and not is_allowed_notify_url(data.notify_url, self.settings.notify_allowed_hosts):
            raise ValueError("notify_url host is not allowed")
        with self.db.begin():
            menu = self.orders.menu_prices(data.restaurant_id, {i.menu_item_id for i in data.items})
            missing = {i.menu_item_id for i in data.items} - menu.keys()
            if missing:
                raise LookupError(f"unknown menu items: {sorted(missing)}")
            order = Order(
                restaurant_id=data.restaurant_id,
                customer_name=data.customer_name,
                customer_phone=data.customer_phone,
                address=data.address,
                notify_url=data.notify_url,
            )
            total = Decimal("0")
            for item in data.items:
                menu_item = menu[item.menu_item_id]
                order.items.append(OrderItem(menu_item_id=menu_item.id, name=menu_item.name,
                                             unit_price=menu_item.price, quantity=item.quantity))
                total += menu_item.price * item.quantity
            order.total = total + data.tip
            self.orders.add(order)
        logger.info("order created", extra={"order_id": order.id, "items": len(data.items)})
        return order

    def pay(self, order_id: int, card_token: str) -> Order:
        with self.db.begin():
            order = self.orders.get_for_update(order_id)
            if order is None:
                raise LookupError("order not found")
            if order.status in ("paid", "dispatched", "delivered"):
                return order
            if order.status not in ("pending", "charging"):
                raise Conflict(f"order is {order.status}")
            # "charging" = a previous attempt's outcome is unknown; re-sending with the same
            # idempotency key makes the provider return that attempt's result instead of charging again
            order.status = "charging"
        try:
            result = self.payments.charge(order, card_token)
        except PaymentDeclined:
            self._set_status(order_id, "pending")
            raise
        except PaymentUnavailable:
            # stay in "charging": a client retry resends the same idempotency key (see above)
            logger.error("payment outcome unknown", extra={"order_id": order_id}, exc_info=True)
            raise
        with self.db.begin():
            order = self.orders.get_for_update(order_id)
            order.status = "paid"  # picked up by the durable dispatch worker
            order.payment_id = result["id"]
        logger.info("order paid", extra={"order_id": order_id, "payment_id": result["id"]})
        return order

    def _set_status(self, order_id: int, status: str) -> None:
        with self.db.begin():
            self.orders.get_for_update(order_id).status = status


def dispatch_next(session_factory, maps: MapsClient, settings: Settings) -> bool:
    """Dispatch one paid order. Courier claim and order update commit together or not at all."""
    with session_factory() as db:
        with db.begin():
            order = OrderRepository(db).next_order_to_dispatch(MAX_DISPATCH_ATTEMPTS)
            if order is None:
                return False
            order_id = order.id
        try:
            with db.begin():
                order = OrderRepository(db).get_for_update(order_id)
                courier = CourierRepository(db).claim_available()
                if courier is None:
                    logger.info("no courier available", extra={"order_id": order_id})
                    return False
                order.eta_minutes = maps.eta_minutes((courier.lat, courier.lng), order.address)
                order.courier_id = courier.id
                order.status = "dispatched"
        except Exception:
            logger.exception("dispatch failed; will retry", extra={"order_id": order_id})
            with db.begin():
                db.execute(
                    update(Order).where(Order.id == order_id).values(dispatch_attempts=Order.dispatch_attempts + 1)
                )
            return False
        logger.info("order dispatched", extra={"order_id": order_id, "courier_id": courier.id})
        _notify(order, settings)
        return True


def _notify(order: Order, settings: Settings) -> None:
    if not order.notify_url or not is_allowed_notify_url(order.notify_url, settings.notify_allowed_hosts):
        return
    try:
        resp = httpx.post(
            order.notify_url,
            json={"order_id": order.id, "status": order.status, "eta_minutes": order.eta_minutes},
            timeout=settings.http_timeout_seconds,
            follow_redirects=False,
        )
        resp.raise_for_status()
    except httpx.HTTPError:
        logger.warning("order status notification failed", extra={"order_id": order.id}, exc_info=True)


def run_dispatch_worker(session_factory, maps: MapsClient, settings: Settings, stop: threading.Event) -> None:
    while not stop.is_set():
        if not dispatch_next(session_factory, maps, settings):
            stop.wait(2.0)
