from django.conf import settings
from django.db import models, transaction
from django.db.models import F


class Client(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clients")
    name = models.CharField(max_length=200)
    email = models.EmailField()
    stripe_customer_id = models.CharField(max_length=100, blank=True)


class Invoice(models.Model):
    STATUS_CHOICES = [("draft", "Draft"), ("sending", "Sending"), ("sent", "Sent"), ("paid", "Paid"), ("void", "Void")]

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invoices")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=30)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default="draft", db_index=True)
    total_cents = models.PositiveIntegerField(default=0)
    amount_paid_cents = models.PositiveIntegerField(default=0)
    stripe_invoice_id = models.CharField(max_length=100, blank=True, db_index=True)
    pdf_key = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "number"], name="uniq_invoice_number_per_owner")]


class LineItem(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="items")
    description = models.CharField(max_length=300)
    quantity = models.PositiveIntegerField()
    unit_price_cents = models.PositiveIntegerField()
    stripe_item_id = models.CharField(max_length=100, blank=True)


class FreelancerProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    next_invoice_number = models.PositiveIntegerField(default=1)
    total_billed_cents = models.BigIntegerField(default=0)


class ProcessedWebhookEvent(models.Model):
    event_id = models.CharField(max_length=100, unique=True)
    received_at = models.DateTimeField(auto_now_add=True)


def next_invoice_number(user):
    with transaction.atomic():
        profile = FreelancerProfile.objects.select_for_update().get(user=user)
        number = profile.next_invoice_number
        FreelancerProfile.objects.filter(pk=profile.pk).update(next_invoice_number=F("next_invoice_number") + 1)
    return f"INV-{user.id}-{number:05d}"
