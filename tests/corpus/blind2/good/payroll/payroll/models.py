import io
import re
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

STANDARD_HOURS = Decimal("160")
CENT = Decimal("0.01")
PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def validate_period(value):
    if not PERIOD_RE.match(value or ""):
        raise ValidationError("period must be YYYY-MM")


class Employee(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    full_name = models.CharField(max_length=200)
    email = models.EmailField()
    iban = models.CharField(max_length=34)
    monthly_salary = models.DecimalField(max_digits=12, decimal_places=2)
    tax_rate = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.200"))
    active = models.BooleanField(default=True)

    def __str__(self):
        return f"Employee {self.pk}"

    def compute_pay(self, bonus=Decimal("0"), overtime_hours=0):
        hourly = self.monthly_salary / STANDARD_HOURS
        gross = (self.monthly_salary + Decimal(bonus) + hourly * Decimal("1.5") * overtime_hours).quantize(CENT)
        tax = (gross * self.tax_rate).quantize(CENT)
        return gross, tax, gross - tax


class Payslip(models.Model):
    STATUS_CHOICES = [
        ("generated", "Generated"),
        ("pdf_failed", "PDF failed"),
        ("submitting", "Submitting"),
        ("paid", "Paid"),
    ]

    employee = models.ForeignKey(Employee, on_delete=models.PROTECT, related_name="payslips")
    period = models.CharField(max_length=7, validators=[validate_period])
    gross = models.DecimalField(max_digits=12, decimal_places=2)
    tax = models.DecimalField(max_digits=12, decimal_places=2)
    net = models.DecimalField(max_digits=12, decimal_places=2)
    pdf_path = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default="generated")
    batch = models.ForeignKey("TransferBatch", null=True, blank=True, on_delete=models.PROTECT, related_name="payslips")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["employee", "period"], name="uniq_payslip_employee_period"),
        ]

    def render_pdf(self):
        """Render to the configured storage backend (S3 in production); key built from validated fields only."""
        validate_period(self.period)
        buf = io.BytesIO()
        c = canvas.Canvas(buf, pagesize=A4)
        c.setFont("Helvetica-Bold", 16)
        c.drawString(50, 800, f"Payslip {self.period}")
        c.setFont("Helvetica", 11)
        c.drawString(50, 770, f"Employee: {self.employee.full_name}")
        c.drawString(50, 755, f"IBAN: ****{self.employee.iban[-4:]}")
        c.drawString(50, 725, f"Gross: {self.gross:.2f} EUR")
        c.drawString(50, 710, f"Tax: {self.tax:.2f} EUR")
        c.drawString(50, 695, f"Net: {self.net:.2f} EUR")
        c.showPage()
        c.save()
        key = f"payslips/{self.period}/{int(self.employee_id)}.pdf"
        if default_storage.exists(key):
            default_storage.delete(key)
        return default_storage.save(key, ContentFile(buf.getvalue()))


class TransferBatch(models.Model):
    STATUS_CHOICES = [
        ("open", "Open"),
        ("submitted", "Submitted"),
        ("failed", "Failed"),
    ]

    period = models.CharField(max_length=7, validators=[validate_period])
    idempotency_key = models.UUIDField(unique=True)
    total = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    item_count = models.IntegerField(default=0)
    bank_reference = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default="open")
    created_at = models.DateTimeField(auto_now_add=True)
