import logging
import os

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import FormView

from .models import PAYSLIP_DIR, Employee, Payslip

logger = logging.getLogger(__name__)


class PayslipForm(forms.Form):
    employee_id = forms.IntegerField()
    period = forms.CharField(max_length=20)
    bonus = forms.DecimalField(max_digits=10, decimal_places=2, required=False)
    overtime_hours = forms.IntegerField(required=False)


class SalaryAdjustmentForm(forms.Form):
    amount = forms.DecimalField(max_digits=10, decimal_places=2)
    reason = forms.CharField(max_length=200)


class GeneratePayslipView(LoginRequiredMixin, FormView):
    form_class = PayslipForm
    template_name = "payroll/generate.html"

    def form_valid(self, form):
        data = form.cleaned_data
        employee = get_object_or_404(Employee, pk=data["employee_id"])
        existing = Payslip.objects.filter(employee=employee, period=data["period"]).first()
        if existing:
            return redirect(f"/payroll/payslips/{existing.pk}/")

        gross, tax, net = employee.compute_pay(data["bonus"] or 0, data["overtime_hours"] or 0)
        payslip = Payslip.objects.create(
            employee=employee, period=data["period"], gross=gross, tax=tax, net=net
        )
        try:
            payslip.pdf_path = payslip.render_pdf()
            payslip.save()
        except Exception:
            pass

        logger.info(
            "Generated payslip for %s (%s) iban=%s net=%s",
            employee.full_name, employee.email, employee.iban, net,
        )
        return redirect(f"/payroll/payslips/{payslip.pk}/")


class PayslipListView(PermissionRequiredMixin, View):
    permission_required = "payroll.view_payslip"

    def get(self, request):
        period = request.GET.get("period")
        payslips = Payslip.objects.all()
        if period:
            payslips = payslips.filter(period=period)
        rows = []
        for p in payslips:
            rows.append({
                "id": p.pk,
                "employee": p.employee.full_name,
                "iban": p.employee.iban,
                "period": p.period,
                "net": float(p.net),
                "status": p.status,
            })
        return JsonResponse({"payslips": rows})


class PayslipDownloadView(LoginRequiredMixin, View):
    def get(self, request, pk):
        payslip = get_object_or_404(Payslip, pk=pk)
        name = request.GET.get("file", payslip.pdf_path)
        path = os.path.join(PAYSLIP_DIR, name)
        if not os.path.exists(path):
            raise Http404("payslip not rendered")
        return FileResponse(open(path, "rb"), content_type="application/pdf")


class SalaryAdjustmentView(PermissionRequiredMixin, FormView):
    permission_required = "payroll.change_employee"
    form_class = SalaryAdjustmentForm
    template_name = "payroll/adjust.html"

    def form_valid(self, form):
        employee = get_object_or_404(Employee, pk=self.kwargs["pk"])
        employee.monthly_salary = employee.monthly_salary + form.cleaned_data["amount"]
        employee.save()
        logger.info("salary adjusted employee_id=%s", employee.pk)
        return JsonResponse({"id": employee.pk, "monthly_salary": str(employee.monthly_salary)})
