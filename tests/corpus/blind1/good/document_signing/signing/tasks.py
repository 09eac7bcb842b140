"""Celery tasks: create envelopes and poll the e-signature provider for status."""
import logging
import os
from datetime import timedelta

import django
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docsign.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.db.models import F  # noqa: E402
from django.utils import timezone  # noqa: E402

from signing.esign import ESignError, ESignUnavailable, esign_request, presigned_get, s3  # noqa: E402
from signing.models import Document  # noqa: E402

logger = logging.getLogger(__name__)

app = Celery("docsign")
app.config_from_object("django.conf:settings", namespace="CELERY")

POLL_INTERVAL_S = 15 * 60


@app.task(bind=True, autoretry_for=(ESignUnavailable,), retry_backoff=30, retry_backoff_max=1800,
          retry_jitter=True, max_retries=8)
def send_envelope(self, document_id):
    document = Document.objects.filter(pk=document_id, status="draft").first()
    if document is None:
        return  # already sent or gone: task is idempotent
    signers = list(document.signers.values("name", "email"))
    try:
        envelope = esign_request("POST", "/envelopes", idempotency_key=str(document.public_id), json={
            "title": document.title,
            "file_url": presigned_get(document.s3_key, expires=3600),
            "recipients": signers,
        })
    except ESignError:
        logger.exception("envelope rejected for document %s", document_id)
        Document.objects.filter(pk=document_id, status="draft").update(status="error")
        return
    Document.objects.filter(pk=document_id, status="draft").update(
        envelope_id=envelope["id"], status="sent")
    poll_status.apply_async((document_id,), countdown=POLL_INTERVAL_S)


@app.task(bind=True, autoretry_for=(ESignUnavailable,), retry_backoff=60, retry_backoff_max=3600,
          retry_jitter=True, max_retries=10)
def poll_status(self, document_id):
    document = Document.objects.filter(pk=document_id).first()
    if document is None or not document.envelope_id or document.signed_s3_key:
        return
    if document.created_at < timezone.now() - timedelta(days=settings.ESIGN_POLL_DEADLINE_DAYS):
        logger.warning("giving up polling document %s after deadline", document_id)
        return

    Document.objects.filter(pk=document_id).update(poll_count=F("poll_count") + 1)
    try:
        envelope = esign_request("GET", f"/envelopes/{document.envelope_id}")
    except ESignError:
        logger.exception("envelope lookup failed permanently for document %s", document_id)
        Document.objects.filter(pk=document_id, status="sent").update(status="error")
        return

    status = envelope.get("status")
    if status == "completed":
        signed = esign_request("GET", f"/envelopes/{document.envelope_id}/document")
        signed_key = document.s3_key.replace(".pdf", "-signed.pdf")
        s3.put_object(Bucket=settings.DOCUMENTS_BUCKET, Key=signed_key,
                      Body=signed["content"].encode(), ServerSideEncryption="AES256")
        Document.objects.filter(pk=document_id, status__in=["sent", "completed"]).update(
            status="completed", signed_s3_key=signed_key)
        logger.info("document %s completed", document_id)
    elif status == "declined":
        Document.objects.filter(pk=document_id, status="sent").update(status="declined")
    else:
        poll_status.apply_async((document_id,), countdown=POLL_INTERVAL_S)
