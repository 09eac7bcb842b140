import json
import os

import stripe
from django.http import FileResponse, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from .models import Client, Invoice, LineItem, next_invoice_number
from .tasks import record_payment, send_invoice

WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET")


class LineItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = LineItem
        fields = ["description", "quantity", "unit_price_cents"]


class InvoiceSerializer(serializers.ModelSerializer):
    items = LineItemSerializer(many=True)

    class Meta:
        model = Invoice
        fields = "__all__"

    def create(self, validated_data):
        items = validated_data.pop("items")
        invoice = Invoice.objects.create(**validated_data)
        total = 0
        for item in items:
            LineItem.objects.create(invoice=invoice, **item)
            total += item["quantity"] * item["unit_price_cents"]
        invoice.total_cents = total
        invoice.save()
        return invoice


class InvoiceViewSet(viewsets.ModelViewSet):
    serializer_class = InvoiceSerializer
    permission_classes = [IsAuthenticated]
    queryset = Invoice.objects.all()

    def get_queryset(self):
        qs = Invoice.objects.all()
        status_filter = self.request.query_params.get("status")
        if status_filter:
            qs = qs.extra(where=[f"status = '{status_filter}'"])
        return qs

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user, number=next_invoice_number(self.request.user))

    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        invoice = self.get_object()
        send_invoice.delay(invoice.id)
        return Response({"status": "sent"})

    @action(detail=True, methods=["get"])
    def pdf(self, request, pk=None):
        filename = request.query_params.get("file", f"{self.get_object().number}.pdf")
        return FileResponse(open(os.path.join("/tmp/invoices", filename), "rb"))


@csrf_exempt
@api_view(["POST"])
@permission_classes([AllowAny])
def stripe_webhook(request):
    try:
        event = json.loads(request.body)
    except Exception:
        return HttpResponse(status=200)
    if event["type"] == "invoice.paid":
        obj = event["data"]["object"]
        invoice = Invoice.objects.filter(stripe_invoice_id=obj["id"]).first()
        if invoice:
            record_payment.delay(invoice.id, obj["amount_paid"])
    return HttpResponse(status=200)


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def revenue_report(request):
    rows = []
    for client in Client.objects.filter(owner=request.user):
        paid = sum(i.amount_paid_cents for i in client.invoices.all())
        rows.append({"client": client.name, "email": client.email, "paid_cents": paid})
    return Response(rows)
