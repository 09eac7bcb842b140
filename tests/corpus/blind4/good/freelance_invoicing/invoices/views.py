import logging

import stripe
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Sum
from django.http import FileResponse, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from .models import Client, Invoice, LineItem, next_invoice_number
from .tasks import record_payment, send_invoice

logger = logging.getLogger(__name__)


class LineItemSerializer(serializers.ModelSerializer):
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)
    unit_price_cents = serializers.IntegerField(min_value=0, max_value=100_000_000)

    class Meta:
        model = LineItem
        fields = ["description", "quantity", "unit_price_cents"]


class InvoiceSerializer(serializers.ModelSerializer):
    items = LineItemSerializer(many=True, allow_empty=False, max_length=200)
    client = serializers.PrimaryKeyRelatedField(queryset=Client.objects.none())

    class Meta:
        model = Invoice
        fields = ["id", "number", "client", "status", "total_cents", "amount_paid_cents", "items", "created_at"]
        read_only_fields = ["id", "number", "status", "total_cents", "amount_paid_cents", "created_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and request.user.is_authenticated:
            self.fields["client"].queryset = Client.objects.filter(owner=request.user)

    def create(self, validated_data):
        items = validated_data.pop("items")
        with transaction.atomic():
            total = sum(i["quantity"] * i["unit_price_cents"] for i in items)
            invoice = Invoice.objects.create(total_cents=total, **validated_data)
            LineItem.objects.bulk_create([LineItem(invoice=invoice, **item) for item in items])
        return invoice


class InvoiceViewSet(viewsets.ModelViewSet):
    serializer_class = InvoiceSerializer
    permission_classes = [IsAuthenticated]
    pagination_class = LimitOffsetPagination
    http_method_names = ["get", "post", "delete"]

    def get_queryset(self):
        qs = Invoice.objects.filter(owner=self.request.user).prefetch_related("items").order_by("-created_at")
        status_filter = self.request.query_params.get("status")
        if status_filter:
            if status_filter not in dict(Invoice.STATUS_CHOICES):
                raise serializers.ValidationError({"status": "unknown status"})
            qs = qs.filter(status=status_filter)
        return qs

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user, number=next_invoice_number(self.request.user))

    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        invoice = self.get_object()
        if invoice.status != "draft":
            return Response({"detail": f"invoice is {invoice.status}"}, status=status.HTTP_409_CONFLICT)
        send_invoice.delay(invoice.id)
        return Response({"status": "queued"}, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["get"])
    def pdf(self, request, pk=None):
        invoice = self.get_object()
        if not invoice.pdf_key:
            return Response({"detail": "pdf not generated yet"}, status=status.HTTP_404_NOT_FOUND)
        return FileResponse(
            default_storage.open(invoice.pdf_key, "rb"), as_attachment=True, filename=f"{invoice.number}.pdf"
        )


@csrf_exempt
@require_POST
def stripe_webhook(request):
    signature = request.headers.get("Stripe-Signature", "")
    try:
        event = stripe.Webhook.construct_event(request.body, signature, settings.STRIPE_WEBHOOK_SECRET)
    except ValueError:
        logger.warning("stripe webhook: invalid payload")
        return HttpResponse(status=400)
    except stripe.error.SignatureVerificationError:
        logger.warning("stripe webhook: bad signature")
        return HttpResponse(status=400)
    if event["type"] == "invoice.paid":
        obj = event["data"]["object"]
        invoice_id = Invoice.objects.filter(stripe_invoice_id=obj["id"]).values_list("id", flat=True).first()
        if invoice_id is None:
            logger.warning("stripe webhook: unknown invoice", extra={"stripe_invoice_id": obj["id"]})
        else:
            record_payment.delay(event["id"], invoice_id, int(obj["amount_paid"]))
    return HttpResponse(status=200)


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def revenue_report(request):
    rows = (
        Client.objects.filter(owner=request.user)
        .annotate(paid_cents=Sum("invoices__amount_paid_cents"))
        .order_by("name")
        .values("id", "name", "paid_cents")[:1000]
    )
    return Response([{"client_id": r["id"], "client": r["name"], "paid_cents": r["paid_cents"] or 0} for r in rows])


@api_view(["GET"])
@permission_classes([])
def healthz(request):
    return Response({"status": "ok"})


@api_view(["GET"])
@permission_classes([])
def readyz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.exception("readiness check failed")
        return Response({"status": "unavailable"}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    return Response({"status": "ready"})
