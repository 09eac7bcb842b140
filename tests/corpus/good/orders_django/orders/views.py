import json
import logging
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.core.paginator import Paginator
from django.db import DatabaseError, connection, transaction
from django.db.models import Case, Count, F, Prefetch, Q, Sum, When
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods
from pydantic import BaseModel, Field, ValidationError

from .models import Customer, Order, OrderItem, PaymentRequest, Product

logger = logging.getLogger(__name__)

SORTS = {"created_at", "-created_at", "total", "-total"}


class OrderLine(BaseModel):
    product_id: int = Field(gt=0)
    quantity: int = Field(gt=0, le=1000)


class OrderIn(BaseModel):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    name: str = Field(default="", max_length=200)
    items: list[OrderLine] = Field(min_length=1, max_length=100)


class OrderRejected(Exception):
    def __init__(self, code: str, status: int, **details: object) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.details = details


def _error(code: str, status: int, **details: object) -> JsonResponse:
    return JsonResponse({"error": {"code": code, **details}}, status=status)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    try:
        connection.ensure_connection()
    except DatabaseError:
        logger.warning("readiness check failed", exc_info=True)
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ready"})


@require_http_methods(["GET", "POST"])
def orders(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return _error("unauthenticated", 401)
    if request.method == "POST":
        return _create_order(request)
    if not request.user.is_staff:
        return _error("forbidden", 403)
    return _order_list(request)


def _order_list(request: HttpRequest) -> JsonResponse:
    queryset = (
        Order.objects.select_related("customer")
        .prefetch_related(
            Prefetch("items", queryset=OrderItem.objects.only("order_id", "product_id", "quantity"))
        )
        .order_by("-created_at", "-id")
    )
    page = Paginator(queryset, settings.ORDERS_PAGE_SIZE).get_page(request.GET.get("page"))
    return JsonResponse(
        {
            "orders": [
                {
                    "id": order.id,
                    "customer": order.customer.email,
                    "status": order.status,
                    "total": str(order.total),
                    "items": [
                        {"product_id": item.product_id, "quantity": item.quantity}
                        for item in order.items.all()
                    ],
                }
                for order in page.object_list
            ],
            "page": page.number,
            "pages": page.paginator.num_pages,
        }
    )


def _send_confirmation(order_id: int, email: str) -> None:
    send_mail("Order received", f"Order #{order_id}", None, [email], fail_silently=False)


def _create_order(request: HttpRequest) -> JsonResponse:
    try:
        payload = OrderIn.model_validate_json(request.body)
    except ValidationError as exc:
        return _error("invalid_request", 422, fields=json.loads(exc.json(include_url=False)))

    quantities: dict[int, int] = {}
    for line in payload.items:
        quantities[line.product_id] = quantities.get(line.product_id, 0) + line.quantity

    try:
        with transaction.atomic():
            # email is UNIQUE: get_or_create settles concurrent first orders in the database.
            customer, _ = Customer.objects.get_or_create(
                email=payload.email, defaults={"name": payload.name}
            )
            # Lock the rows in id order: concurrent orders wait instead of overselling.
            products = {
                p.id: p
                for p in Product.objects.select_for_update().filter(id__in=quantities).order_by("id")
            }
            missing = sorted(set(quantities) - products.keys())
            if missing:
                raise OrderRejected("unknown_product", 422, product_ids=missing)
            for product_id, quantity in quantities.items():
                if products[product_id].stock < quantity:
                    raise OrderRejected("insufficient_stock", 409, product_id=product_id)

            total = sum(
                (products[pid].price * qty for pid, qty in quantities.items()), Decimal("0")
            )
            order = Order.objects.create(customer=customer, total=total)
            OrderItem.objects.bulk_create(
                [
                    OrderItem(order=order, product_id=pid, quantity=qty, unit_price=products[pid].price)
                    for pid, qty in quantities.items()
                ]
            )
            Product.objects.filter(id__in=quantities).update(
                stock=Case(
                    *[When(id=pid, then=F("stock") - qty) for pid, qty in quantities.items()],
                    default=F("stock"),
                )
            )
            Customer.objects.filter(pk=customer.pk).update(
                loyalty_points=F("loyalty_points") + int(total)
            )
            # Outbox row, committed with the order; the outbox worker calls the payment service.
            PaymentRequest.objects.create(order=order, amount=total)
            if settings.SEND_ORDER_EMAILS:
                transaction.on_commit(
                    lambda: _send_confirmation(order.id, customer.email), robust=True
                )
    except OrderRejected as exc:
        return _error(exc.code, exc.status, **exc.details)

    logger.info("order created", extra={"order_id": order.id, "total": str(total)})
    return JsonResponse({"id": order.id, "total": str(total)}, status=201)


@require_GET
def order_detail(request: HttpRequest, order_id: int) -> JsonResponse:
    if not request.user.is_authenticated:
        return _error("unauthenticated", 401)
    order = (
        Order.objects.filter(pk=order_id, customer__email=request.user.email)
        .values("id", "status", "total")
        .first()
    )
    if order is None:
        return _error("not_found", 404)
    return JsonResponse({"id": order["id"], "status": order["status"], "total": str(order["total"])})


@require_GET
def search_orders(request: HttpRequest) -> JsonResponse:
    if not request.user.is_staff:
        return _error("forbidden", 403)
    q = request.GET.get("q", "")[:100]
    sort = request.GET.get("sort", "-created_at")
    if sort not in SORTS:
        return _error("invalid_sort", 400, allowed=sorted(SORTS))
    results = (
        Order.objects.filter(status__icontains=q)
        .order_by(sort, "-id")
        .values("id", "status")[: settings.ORDERS_PAGE_SIZE]
    )
    return JsonResponse({"results": list(results)})


@require_GET
def customer_summary(request: HttpRequest, customer_id: int) -> JsonResponse:
    if not request.user.is_staff:
        return _error("forbidden", 403)
    summary = (
        Customer.objects.filter(pk=customer_id)
        .annotate(
            order_count=Count("orders"),
            paid_total=Sum("orders__total", filter=Q(orders__status="paid")),
        )
        .values("email", "loyalty_points", "order_count", "paid_total")
        .first()
    )
    if summary is None:
        return _error("not_found", 404)
    paid_total = summary["paid_total"] or Decimal("0")
    return JsonResponse(
        {
            "email": summary["email"],
            "order_count": summary["order_count"],
            "loyalty_points": summary["loyalty_points"],
            "discount_rate": 0.1 if paid_total > 1000 else 0.0,
        }
    )
