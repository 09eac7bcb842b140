import os
from decimal import Decimal

from django.conf import settings
from django.db import models
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

PAYSLIP_DIR = os.path.join(settings.BASE_DIR, "media", "payslips")
STANDARD_HOURS = Decimal("160")


class Employee(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    full_name = models.CharField(max_length=200)
    email = models.EmailField()
    iban = models.CharField(max_length=34)
    monthly_salary = models.DecimalField(max_digits=12, decimal_places=2)
    tax_rate = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.200"))
    active = models.BooleanField(default=True)

    def __str__(self):
        return self.full_name

    def compute_pay(self, bonus=0, overtime_hours=0):
        hourly = self.monthly_salary / STANDARD_HOURS
        gross = self.monthly_salary + Decimal(bonus) + hourly * Decimal("1.5") * overtime_hours
        gross = gross.quantize(Decimal("0.01"))
        tax = (gross * self.tax_rate).quantize(Decimal("0.01"))
        net = gross - tax
        return gross, tax, net


class Payslip(models.Model):
    STATUS_CHOICES = [
        ("generated", "Generated"),
        ("paid", "Paid"),
    ]

    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="payslips")
    period = models.CharField(max_length=20)
    gross = models.DecimalField(max_digits=12, decimal_places=2)
    tax = models.DecimalField(max_digits=12, decimal_places=2)
    net = models.DecimalField(max_digits=12, decimal_places=2)
    pdf_path = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default="generated")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def render_pdf(self):
        folder = os.path.join(PAYSLIP_DIR, self.period)
        os.makedirs(folder, exist_ok=True)
        filename = f"{self.employee_id}.pdf"
        path = os.path.join(folder, filename)
        c = canvas.Canvas(path, pagesize=A4)
        c.setFont("Helvetica-Bold", 16)
        c.drawString(50, 800, f"Payslip {self.period}")
        c.setFont("Helvetica", 11)
        c.drawString(50, 770, f"Employee: {self.employee.full_name}")
        c.drawString(50, 755, f"IBAN: {self.employee.iban}")
        c.drawString(50, 725, f"Gross: {self.gross:.2f} EUR")
        c.drawString(50, 710, f"Tax: {self.tax:.2f} EUR")
        c.drawString(50, 695, f"Net: {self.net:.2f} EUR")
        c.showPage()
        c.save()
        return os.path.join(self.period, filename)


class TransferBatch(models.Model):
    period = models.CharField(max_length=20)
    total = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    item_count = models.IntegerField(default=0)
    bank_reference = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=20, default="open")
    created_at = models.DateTimeField(auto_now_add=True)
