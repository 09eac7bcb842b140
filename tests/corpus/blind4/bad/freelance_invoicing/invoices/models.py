from django.conf import settings
from django.db import models


class Client(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clients")
    name = models.CharField(max_length=200)
    email = models.EmailField()
    stripe_customer_id = models.CharField(max_length=100, blank=True)


class Invoice(models.Model):
    STATUS_CHOICES = [("draft", "Draft"), ("sent", "Sent"), ("paid", "Paid"), ("void", "Void")]

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invoices")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="invoices")
    number = models.CharField(max_length=30)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default="draft")
    total_cents = models.IntegerField(default=0)
    amount_paid_cents = models.IntegerField(default=0)
    stripe_invoice_id = models.CharField(max_length=100, blank=True)
    pdf_path = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class LineItem(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="items")
    description = models.CharField(max_length=300)
    quantity = models.IntegerField()
    unit_price_cents = models.IntegerField()


class FreelancerProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    next_invoice_number = models.IntegerField(default=1)
    total_billed_cents = models.IntegerField(default=0)


def next_invoice_number(user):
    profile = FreelancerProfile.objects.get(user=user)
    number = profile.next_invoice_number
    profile.next_invoice_number = number + 1
    profile.save()
    return f"INV-{user.id}-{number:05d}"
