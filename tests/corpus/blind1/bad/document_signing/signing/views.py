"""Function views for uploading documents and sending them for e-signature."""
import json
import logging

import boto3
import requests
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from signing.models import Document, Signer

logger = logging.getLogger(__name__)

s3 = boto3.client("s3", region_name=settings.AWS_REGION)


def esign_request(method, endpoint, **kwargs):
    headers = {"Authorization": f"Bearer {settings.ESIGN_API_KEY}"}
    resp = requests.request(method, f"{settings.ESIGN_API_URL}{endpoint}", headers=headers, **kwargs)
    resp.raise_for_status()
    return resp.json()


def send_for_signature(document, signers):
    presigned = s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": settings.DOCUMENTS_BUCKET, "Key": document.s3_key},
        ExpiresIn=7 * 24 * 3600,
    )
    envelope = esign_request("POST", "/envelopes", json={
        "title": document.title,
        "file_url": presigned,
        "recipients": [{"name": s.name, "email": s.email} for s in signers],
    })
    return envelope["id"]


@login_required
@require_POST
def upload_document(request):
    uploaded = request.FILES["file"]
    title = request.POST.get("title", uploaded.name)
    signers_data = json.loads(request.POST.get("signers", "[]"))

    key = f"documents/{uploaded.name}"
    s3.put_object(Bucket=settings.DOCUMENTS_BUCKET, Key=key, Body=uploaded.read())

    document = Document.objects.create(owner=request.user, title=title, s3_key=key)
    signers = []
    for s in signers_data:
        signers.append(Signer.objects.create(document=document, name=s["name"], email=s["email"]))

    document.envelope_id = send_for_signature(document, signers)
    document.status = "sent"
    document.save()

    from signing.tasks import poll_status
    poll_status.delay(document)

    return JsonResponse({"id": document.id, "status": document.status}, status=201)


@login_required
@require_GET
def list_documents(request):
    docs = Document.objects.filter(owner=request.user).order_by("-created_at")[:50]
    data = []
    for doc in docs:
        data.append({
            "id": doc.id,
            "title": doc.title,
            "status": doc.status,
            "signers": [{"name": s.name, "email": s.email, "signed": bool(s.signed_at)}
                        for s in doc.signers.all()],
        })
    return JsonResponse({"documents": data})


@login_required
@require_GET
def download_document(request, doc_id):
    document = get_object_or_404(Document, pk=doc_id)
    url = s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": settings.DOCUMENTS_BUCKET, "Key": document.s3_key},
        ExpiresIn=3600,
    )
    return JsonResponse({"url": url})


@login_required
def signing_complete(request, doc_id):
    next_url = request.GET.get("next", "/")
    return redirect(next_url)


@csrf_exempt
@require_POST
def esign_webhook(request):
    event = json.loads(request.body)
    document = Document.objects.get(envelope_id=event["envelope_id"])
    if event["event"] == "envelope.completed":
        document.status = "completed"
    elif event["event"] == "envelope.declined":
        document.status = "declined"
    elif event["event"] == "recipient.signed":
        signer = document.signers.get(email=event["recipient"]["email"])
        signer.signed_at = event["recipient"]["signed_at"]
        signer.save()
    document.save()
    return HttpResponse("ok")


urlpatterns = [
    path("documents/", upload_document),
    path("documents/list/", list_documents),
    path("documents/<int:doc_id>/download/", download_document),
    path("documents/<int:doc_id>/complete/", signing_complete),
    path("webhooks/esign/", esign_webhook),
]
