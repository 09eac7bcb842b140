from django.conf import settings
from django.db import models


class Document(models.Model):
    STATUS_CHOICES = [
        ("draft", "Draft"),
        ("sent", "Sent"),
        ("completed", "Completed"),
        ("declined", "Declined"),
        ("error", "Error"),
    ]
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    title = models.CharField(max_length=255)
    s3_key = models.CharField(max_length=512)
    envelope_id = models.CharField(max_length=128, blank=True, default="")
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default="draft")
    poll_count = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class Signer(models.Model):
    document = models.ForeignKey(Document, related_name="signers", on_delete=models.CASCADE)
    name = models.CharField(max_length=255)
    email = models.EmailField()
    signed_at = models.DateTimeField(null=True, blank=True)
