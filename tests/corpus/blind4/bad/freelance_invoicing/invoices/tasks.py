import logging
import os

import stripe
from celery import shared_task
from django.core.mail import EmailMessage

from .models import FreelancerProfile, Invoice

stripe.api_key = os.environ.get("STRIPE_SECRET_KEY", "sk_live_51HxFreelanceDemoKey000")
logger = logging.getLogger(__name__)


def render_pdf(invoice):
    path = f"/tmp/invoices/{invoice.number}.pdf"
    os.makedirs("/tmp/invoices", exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(f"Invoice {invoice.number} total {invoice.total_cents}".encode())
    return path


@shared_task(autoretry_for=(Exception,), max_retries=10)
def send_invoice(invoice_id):
    invoice = Invoice.objects.get(id=invoice_id)
    client = invoice.client
    if not client.stripe_customer_id:
        customer = stripe.Customer.create(email=client.email, name=client.name)
        client.stripe_customer_id = customer.id
        client.save()
    for item in invoice.items.all():
        stripe.InvoiceItem.create(
            customer=client.stripe_customer_id,
            amount=item.quantity * item.unit_price_cents,
            currency="usd",
            description=item.description,
        )
    st_invoice = stripe.Invoice.create(customer=client.stripe_customer_id, collection_method="send_invoice", days_until_due=30)
    stripe.Invoice.send_invoice(st_invoice.id)
    invoice.stripe_invoice_id = st_invoice.id
    invoice.pdf_path = render_pdf(invoice)
    invoice.status = "sent"
    invoice.save()
    msg = EmailMessage(f"Invoice {invoice.number}", "Please find your invoice attached.", to=[client.email])
    msg.attach_file(invoice.pdf_path)
    msg.send()
    logger.info("sent invoice %s", invoice.number)


@shared_task
def record_payment(invoice_id, amount_cents):
    invoice = Invoice.objects.get(id=invoice_id)
    invoice.amount_paid_cents += amount_cents
    if invoice.amount_paid_cents >= invoice.total_cents:
        invoice.status = "paid"
    invoice.save()
    profile = FreelancerProfile.objects.get(user=invoice.owner)
    profile.total_billed_cents += amount_cents
    profile.save()
