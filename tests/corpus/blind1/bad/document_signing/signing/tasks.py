"""Celery tasks that poll the e-signature provider for envelope status."""
import os

import django
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docsign.settings")
django.setup()

from django.conf import settings  # noqa: E402

from signing.views import esign_request, s3  # noqa: E402

app = Celery("docsign")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task(bind=True, max_retries=None)
def poll_status(self, document):
    try:
        envelope = esign_request("GET", f"/envelopes/{document.envelope_id}")
        document.poll_count += 1
        if envelope["status"] == "completed":
            document.status = "completed"
            signed = esign_request("GET", f"/envelopes/{document.envelope_id}/document")
            s3.put_object(
                Bucket=settings.DOCUMENTS_BUCKET,
                Key=document.s3_key.replace(".pdf", "-signed.pdf"),
                Body=signed["content"].encode(),
            )
        elif envelope["status"] == "declined":
            document.status = "declined"
        document.save()
    except Exception as e:
        print(f"poll failed for {document.id}: {e}")
        document.status = "error"
        document.save()
        return

    if document.status == "sent":
        raise self.retry(countdown=60)
