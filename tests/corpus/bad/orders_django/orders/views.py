import json
import logging

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .models import Customer, Order, OrderItem, Product

logger = logging.getLogger(__name__)


def order_list(request):
    orders = Order.objects.all().order_by("-created_at")
    data = []
    for order in orders:
        items = OrderItem.objects.filter(order=order)
        data.append(
            {
                "id": order.id,
                "customer": order.customer.email,
                "status": order.status,
                "total": str(order.total),
                "items": [{"product_id": i.product_id, "quantity": i.quantity} for i in items],
            }
        )
    return JsonResponse({"orders": data})


@csrf_exempt
def create_order(request):
    if request.method != "POST":
        return JsonResponse({"error": "Method not allowed"}, status=405)
    data = json.loads(request.body)

    customer = Customer.objects.filter(email=data["email"]).first()
    if customer is None:
        customer = Customer.objects.create(email=data["email"], name=data.get("name", ""))

    order = Order.objects.create(customer=customer, status="pending")
    total = 0
    for line in data["items"]:
        product = Product.objects.get(id=line["product_id"])
        if product.stock < line["quantity"]:
            return JsonResponse({"error": f"Not enough stock for {product.name}"}, status=400)
        product.stock -= line["quantity"]
        product.save()
        OrderItem.objects.create(
            order=order, product=product, quantity=line["quantity"], unit_price=product.price
        )
        total += product.price * line["quantity"]

    order.total = total
    order.save()
    customer.loyalty_points += int(total)
    customer.save()

    try:
        requests.post(
            settings.PAYMENT_SERVICE_URL,
            json={"order_id": order.id, "amount": str(total)},
        )
    except Exception as e:
        logger.error(f"Payment service call failed: {e}")

    if settings.SEND_ORDER_EMAILS:
        send_mail("Order received", f"Order #{order.id}", None, [customer.email])

    return JsonResponse({"id": order.id, "total": str(total)}, status=201)


def order_detail(request, order_id):
    try:
        order = Order.objects.get(id=order_id)
    except:
        return JsonResponse({"error": "Order not found"})
    return JsonResponse({"id": order.id, "status": order.status, "total": str(order.total)})


def search_orders(request):
    q = request.GET.get("q", "")
    sort = request.GET.get("sort", "created_at")
    orders = Order.objects.raw(
        f"SELECT * FROM orders_order WHERE status LIKE '%%{q}%%' ORDER BY {sort}"
    )
    return JsonResponse({"results": [{"id": o.id, "status": o.status} for o in orders]})


def customer_summary(request, customer_id):
    customer = Customer.objects.get(id=customer_id)
    orders = Order.objects.filter(customer=customer)
    return JsonResponse(
        {
            "email": customer.email,
            "order_count": len(orders),
            "discount_rate": customer.discount_rate(),
        }
    )
