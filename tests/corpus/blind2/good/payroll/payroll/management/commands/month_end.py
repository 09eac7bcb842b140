import logging
import uuid

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from payroll.models import Employee, Payslip, TransferBatch, validate_period

logger = logging.getLogger(__name__)


def bank_settings():
    url = getattr(settings, "BANK_API_URL", "")
    token = getattr(settings, "BANK_API_TOKEN", "")
    debtor = getattr(settings, "COMPANY_IBAN", "")
    if not url.startswith("https://") or not token or not debtor:
        raise ImproperlyConfigured("BANK_API_URL (https), BANK_API_TOKEN and COMPANY_IBAN must be set")
    return url, token, debtor


def bank_session():
    # POST is retried only because every request carries an Idempotency-Key the bank deduplicates on.
    retry = Retry(
        total=4,
        backoff_factor=2,
        status_forcelist=(502, 503, 504),
        allowed_methods=frozenset({"POST"}),
        raise_on_status=False,
    )
    session = requests.Session()
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def submit_batch(payload, idempotency_key):
    url, token, _ = bank_settings()
    resp = bank_session().post(
        url,
        json=payload,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(idempotency_key)},
        timeout=(5, 60),
    )
    resp.raise_for_status()
    body = resp.json()
    if not body.get("reference"):
        raise CommandError("bank accepted the request but returned no reference")
    return body


def generate_missing_payslips(period):
    created = 0
    for employee in Employee.objects.filter(active=True).iterator():
        gross, tax, net = employee.compute_pay()
        try:
            with transaction.atomic():
                slip, was_created = Payslip.objects.get_or_create(
                    employee=employee, period=period, defaults={"gross": gross, "tax": tax, "net": net}
                )
        except IntegrityError:
            continue
        if was_created:
            slip.pdf_path = slip.render_pdf()
            slip.save(update_fields=["pdf_path"])
            created += 1
    return created


class Command(BaseCommand):
    help = "Month-end payroll run: generate missing payslips and submit the bank transfer batch"

    def add_arguments(self, parser):
        parser.add_argument("period", help="YYYY-MM")

    def handle(self, *args, **options):
        period = options["period"]
        validate_period(period)
        _, _, debtor_iban = bank_settings()
        created = generate_missing_payslips(period)
        logger.info("month_end payslips generated period=%s created=%s", period, created)

        batch = TransferBatch.objects.filter(period=period, status="open").first()
        if batch is None:
            with transaction.atomic():
                slips = Payslip.objects.select_for_update().filter(period=period, status="generated", batch__isnull=True)
                batch = TransferBatch.objects.create(period=period, idempotency_key=uuid.uuid4())
                slips.update(status="submitting", batch=batch)
                agg = Payslip.objects.filter(batch=batch).aggregate(total=Sum("net"), n=Count("id"))
                batch.total = agg["total"] or 0
                batch.item_count = agg["n"]
                batch.save(update_fields=["total", "item_count"])
        else:
            logger.info("month_end resuming open batch batch_id=%s", batch.pk)

        if batch.item_count == 0:
            logger.info("month_end nothing to pay period=%s", period)
            return

        transfers = [
            {
                "creditor_iban": slip.employee.iban,
                "creditor_name": slip.employee.full_name,
                "amount": str(slip.net),
                "remittance": f"Salary {period}",
                "end_to_end_id": f"PS-{slip.pk}",
            }
            for slip in Payslip.objects.filter(batch=batch).select_related("employee").iterator()
        ]
        logger.info("month_end submitting batch_id=%s items=%s total=%s", batch.pk, batch.item_count, batch.total)
        try:
            result = submit_batch(
                {"debtor_iban": debtor_iban, "batch_id": str(batch.idempotency_key), "currency": "EUR", "transfers": transfers},
                batch.idempotency_key,
            )
        except (requests.RequestException, CommandError, ValueError):
            logger.exception("month_end bank submission failed batch_id=%s; batch left open for safe resubmission", batch.pk)
            raise CommandError("bank submission failed; rerun to resubmit with the same idempotency key")

        with transaction.atomic():
            TransferBatch.objects.filter(pk=batch.pk).update(status="submitted", bank_reference=result["reference"])
            Payslip.objects.filter(batch=batch, status="submitting").update(status="paid")
        logger.info("month_end complete batch_id=%s bank_reference=%s", batch.pk, result["reference"])
