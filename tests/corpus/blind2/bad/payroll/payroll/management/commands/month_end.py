import time

import requests
from django.core.management.base import BaseCommand

from payroll.models import Employee, Payslip, TransferBatch

BANK_API_URL = "https://bank-gw.internal.acme-corp.local/v2/transfers/batch"
BANK_API_TOKEN = "bk_live_4f9a8e7d6c5b4a3928170615"
COMPANY_IBAN = "DE89370400440532013000"


def submit_batch(payload):
    while True:
        try:
            resp = requests.post(
                BANK_API_URL,
                json=payload,
                headers={"Authorization": f"Bearer {BANK_API_TOKEN}"},
            )
            return resp.json()
        except requests.RequestException as exc:
            print(f"bank call failed ({exc}), retrying...")
            time.sleep(1)


def generate_missing_payslips(period):
    created = 0
    for employee in Employee.objects.filter(active=True):
        if Payslip.objects.filter(employee=employee, period=period).exists():
            continue
        gross, tax, net = employee.compute_pay()
        slip = Payslip.objects.create(employee=employee, period=period, gross=gross, tax=tax, net=net)
        slip.pdf_path = slip.render_pdf()
        slip.save()
        created += 1
    return created


class Command(BaseCommand):
    help = "Month-end payroll run: generate missing payslips and submit the bank transfer batch"

    def add_arguments(self, parser):
        parser.add_argument("period", help="YYYY-MM")

    def handle(self, *args, **options):
        period = options["period"]
        created = generate_missing_payslips(period)
        print(f"generated {created} payslips for {period}")

        batch = TransferBatch.objects.create(period=period)
        transfers = []
        slip_ids = []
        for slip in Payslip.objects.filter(period=period, status="generated"):
            transfers.append({
                "creditor_iban": slip.employee.iban,
                "creditor_name": slip.employee.full_name,
                "amount": str(slip.net),
                "remittance": f"Salary {period}",
            })
            slip_ids.append(slip.pk)
            batch.total = batch.total + slip.net
            batch.item_count = batch.item_count + 1
            batch.save()

        print(f"Submitting batch {batch.pk} with {len(transfers)} transfers")
        result = submit_batch({
            "debtor_iban": COMPANY_IBAN,
            "batch_id": batch.pk,
            "currency": "EUR",
            "transfers": transfers,
        })

        batch.bank_reference = result.get("reference", "")
        batch.status = "submitted"
        batch.save()
        Payslip.objects.filter(pk__in=slip_ids).update(status="paid")
        print(f"Month-end complete, bank reference {batch.bank_reference}")
