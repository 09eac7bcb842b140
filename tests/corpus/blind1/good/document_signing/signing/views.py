"""Function views for uploading documents and sending them for e-signature."""
import hashlib
import hmac
import json
import logging
import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.core.validators import validate_email
from django.db import connection, transaction
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from signing.esign import presigned_get, s3
from signing.models import Document, Signer

logger = logging.getLogger(__name__)

PDF_MAGIC = b"%PDF-"
TERMINAL_EVENTS = {"envelope.completed": "completed", "envelope.declined": "declined"}


def _parse_signers(raw):
    try:
        data = json.loads(raw or "[]")
    except json.JSONDecodeError as exc:
        raise ValidationError("signers must be JSON") from exc
    if not isinstance(data, list) or not 1 <= len(data) <= settings.MAX_SIGNERS:
        raise ValidationError(f"between 1 and {settings.MAX_SIGNERS} signers required")
    signers, seen = [], set()
    for item in data:
        if not isinstance(item, dict):
            raise ValidationError("each signer must be an object")
        name, email = str(item.get("name", "")).strip(), str(item.get("email", "")).strip().lower()
        if not 1 <= len(name) <= 255:
            raise ValidationError("signer name is required")
        validate_email(email)
        if email in seen:
            raise ValidationError("duplicate signer email")
        seen.add(email)
        signers.append({"name": name, "email": email})
    return signers


@login_required
@require_POST
def upload_document(request):
    uploaded = request.FILES.get("file")
    if uploaded is None:
        return HttpResponseBadRequest("file is required")
    if uploaded.size > settings.MAX_DOCUMENT_BYTES:
        return JsonResponse({"error": "document too large"}, status=413)
    if uploaded.read(len(PDF_MAGIC)) != PDF_MAGIC:
        return JsonResponse({"error": "only PDF documents are accepted"}, status=415)
    uploaded.seek(0)
    title = request.POST.get("title", "").strip()[:255] or "Untitled document"
    try:
        signers = _parse_signers(request.POST.get("signers"))
    except ValidationError as exc:
        return JsonResponse({"error": exc.messages}, status=400)

    public_id = uuid.uuid4()
    key = f"documents/{request.user.pk}/{public_id}.pdf"
    s3.upload_fileobj(uploaded, settings.DOCUMENTS_BUCKET, key,
                      ExtraArgs={"ContentType": "application/pdf", "ServerSideEncryption": "AES256"})

    from signing.tasks import send_envelope

    try:
        with transaction.atomic():
            document = Document.objects.create(public_id=public_id, owner=request.user,
                                               title=title, s3_key=key)
            Signer.objects.bulk_create([Signer(document=document, **s) for s in signers])
            transaction.on_commit(lambda: send_envelope.delay(document.pk))
    except Exception:
        logger.exception("document creation failed, removing uploaded object")
        s3.delete_object(Bucket=settings.DOCUMENTS_BUCKET, Key=key)
        raise

    logger.info("document %s created with %d signers", document.pk, len(signers))
    return JsonResponse({"id": document.pk, "status": document.status}, status=202)


@login_required
@require_GET
def list_documents(request):
    docs = (Document.objects.filter(owner=request.user)
            .prefetch_related("signers").order_by("-created_at", "-id"))
    page = Paginator(docs, 25).get_page(request.GET.get("page"))
    data = [{
        "id": doc.pk,
        "title": doc.title,
        "status": doc.status,
        "signers": [{"name": s.name, "signed": s.signed_at is not None} for s in doc.signers.all()],
    } for doc in page]
    return JsonResponse({"documents": data, "page": page.number, "pages": page.paginator.num_pages})


@login_required
@require_GET
def download_document(request, doc_id):
    document = get_object_or_404(Document, pk=doc_id, owner=request.user)
    key = document.signed_s3_key or document.s3_key
    return JsonResponse({"url": presigned_get(key, expires=300)})


@login_required
@require_GET
def signing_complete(request, doc_id):
    next_url = request.GET.get("next", "/")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = "/"
    return redirect(next_url)


def _valid_signature(request):
    supplied = request.headers.get("X-Esign-Signature", "")
    expected = hmac.new(settings.ESIGN_WEBHOOK_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(supplied, expected)


@csrf_exempt  # server-to-server callback, authenticated by HMAC signature below
@require_POST
def esign_webhook(request):
    if not _valid_signature(request):
        logger.warning("esign webhook rejected: bad signature")
        return HttpResponse(status=401)
    try:
        event = json.loads(request.body)
        kind, envelope_id = event["event"], str(event["envelope_id"])
    except (json.JSONDecodeError, KeyError, TypeError):
        return HttpResponseBadRequest("malformed event")

    if kind in TERMINAL_EVENTS:
        updated = (Document.objects.filter(envelope_id=envelope_id, status="sent")
                   .update(status=TERMINAL_EVENTS[kind]))
        if updated and kind == "envelope.completed":
            from signing.tasks import poll_status
            doc_id = Document.objects.filter(envelope_id=envelope_id).values_list("pk", flat=True).first()
            poll_status.delay(doc_id)  # fetch and store the signed copy
    elif kind == "recipient.signed":
        recipient = event.get("recipient") or {}
        signed_at = parse_datetime(str(recipient.get("signed_at", "")))
        if signed_at is None:
            return HttpResponseBadRequest("recipient.signed_at missing")
        Signer.objects.filter(document__envelope_id=envelope_id,
                              email=str(recipient.get("email", "")).lower(),
                              signed_at__isnull=True).update(signed_at=signed_at)
    logger.info("esign webhook processed kind=%s envelope=%s", kind, envelope_id)
    return HttpResponse("ok")


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.exception("readiness check failed")
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ready"})


urlpatterns = [
    path("healthz", healthz),
    path("readyz", readyz),
    path("documents/", upload_document),
    path("documents/list/", list_documents),
    path("documents/<int:doc_id>/download/", download_document),
    path("documents/<int:doc_id>/complete/", signing_complete),
    path("webhooks/esign/", esign_webhook),
]
