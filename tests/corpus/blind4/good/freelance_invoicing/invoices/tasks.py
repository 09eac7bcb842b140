import logging

import stripe
from celery import shared_task
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F

from .models import FreelancerProfile, Invoice, ProcessedWebhookEvent

stripe.api_key = settings.STRIPE_SECRET_KEY
stripe.max_network_retries = 2
logger = logging.getLogger(__name__)

RETRYABLE = (stripe.error.APIConnectionError, stripe.error.RateLimitError, stripe.error.APIError)


def render_pdf(invoice):
    key = f"invoices/{invoice.owner_id}/{invoice.number}.pdf"
    content = f"Invoice {invoice.number} total {invoice.total_cents}".encode()
    if default_storage.exists(key):
        default_storage.delete(key)
    return default_storage.save(key, ContentFile(content))


@shared_task(
    bind=True,
    autoretry_for=RETRYABLE,
    retry_backoff=10,
    retry_backoff_max=900,
    retry_jitter=True,
    max_retries=6,
    acks_late=True,
)
def send_invoice(self, invoice_id):
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().select_related("client").get(id=invoice_id)
        if invoice.status not in ("draft", "sending"):
            logger.info("invoice already processed", extra={"invoice_id": invoice_id, "status": invoice.status})
            return
        invoice.status = "sending"
        invoice.save(update_fields=["status"])
    client = invoice.client
    if not client.stripe_customer_id:
        customer = stripe.Customer.create(
            email=client.email, name=client.name, idempotency_key=f"client-{client.id}-customer"
        )
        client.stripe_customer_id = customer.id
        client.save(update_fields=["stripe_customer_id"])
    if not invoice.stripe_invoice_id:
        st_invoice = stripe.Invoice.create(
            customer=client.stripe_customer_id,
            collection_method="send_invoice",
            days_until_due=30,
            pending_invoice_items_behavior="exclude",
            metadata={"invoice_id": invoice.id},
            idempotency_key=f"invoice-{invoice.id}-create",
        )
        invoice.stripe_invoice_id = st_invoice.id
        invoice.save(update_fields=["stripe_invoice_id"])
    for item in invoice.items.filter(stripe_item_id=""):
        st_item = stripe.InvoiceItem.create(
            customer=client.stripe_customer_id,
            invoice=invoice.stripe_invoice_id,
            amount=item.quantity * item.unit_price_cents,
            currency="usd",
            description=item.description,
            idempotency_key=f"lineitem-{item.id}",
        )
        item.stripe_item_id = st_item.id
        item.save(update_fields=["stripe_item_id"])
    stripe.Invoice.finalize_invoice(invoice.stripe_invoice_id, idempotency_key=f"invoice-{invoice.id}-finalize")
    stripe.Invoice.send_invoice(invoice.stripe_invoice_id, idempotency_key=f"invoice-{invoice.id}-send")
    invoice.pdf_key = render_pdf(invoice)
    invoice.status = "sent"
    invoice.save(update_fields=["pdf_key", "status"])
    msg = EmailMessage(f"Invoice {invoice.number}", "Please find your invoice attached.", to=[client.email])
    with default_storage.open(invoice.pdf_key, "rb") as fh:
        msg.attach(f"{invoice.number}.pdf", fh.read(), "application/pdf")
    msg.send(fail_silently=False)
    logger.info("invoice sent", extra={"invoice_id": invoice.id, "number": invoice.number})


@shared_task(acks_late=True)
def record_payment(event_id, invoice_id, amount_cents):
    with transaction.atomic():
        _, created = ProcessedWebhookEvent.objects.get_or_create(event_id=event_id)
        if not created:
            logger.info("duplicate payment event ignored", extra={"event_id": event_id})
            return
        Invoice.objects.filter(id=invoice_id).update(amount_paid_cents=F("amount_paid_cents") + amount_cents)
        invoice = Invoice.objects.select_for_update().get(id=invoice_id)
        if invoice.amount_paid_cents >= invoice.total_cents and invoice.status != "paid":
            invoice.status = "paid"
            invoice.save(update_fields=["status"])
        FreelancerProfile.objects.filter(user_id=invoice.owner_id).update(
            total_billed_cents=F("total_billed_cents") + amount_cents
        )
    logger.info("payment recorded", extra={"invoice_id": invoice_id, "amount_cents": amount_cents})
