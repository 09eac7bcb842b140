import uuid

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
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    title = models.CharField(max_length=255)
    s3_key = models.CharField(max_length=512, unique=True)
    signed_s3_key = models.CharField(max_length=512, blank=True, default="")
    envelope_id = models.CharField(max_length=128, blank=True, default="", db_index=True)
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default="draft")
    poll_count = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "-created_at"])]


class Signer(models.Model):
    document = models.ForeignKey(Document, related_name="signers", on_delete=models.CASCADE)
    name = models.CharField(max_length=255)
    email = models.EmailField()
    signed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["document", "email"], name="uniq_signer")]
