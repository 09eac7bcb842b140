import logging

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import FormView

from .models import Employee, Payslip, validate_period

logger = logging.getLogger(__name__)
MAX_PAGE_SIZE = 200


class PayslipForm(forms.Form):
    employee_id = forms.IntegerField(min_value=1)
    period = forms.CharField(max_length=7, validators=[validate_period])
    bonus = forms.DecimalField(max_digits=10, decimal_places=2, required=False, min_value=0, max_value=50000)
    overtime_hours = forms.IntegerField(required=False, min_value=0, max_value=120)


class SalaryAdjustmentForm(forms.Form):
    amount = forms.DecimalField(max_digits=10, decimal_places=2, min_value=-10000, max_value=10000)
    reason = forms.CharField(max_length=200)


class GeneratePayslipView(PermissionRequiredMixin, FormView):
    permission_required = "payroll.add_payslip"
    form_class = PayslipForm
    template_name = "payroll/generate.html"

    def form_valid(self, form):
        data = form.cleaned_data
        employee = get_object_or_404(Employee, pk=data["employee_id"], active=True)
        gross, tax, net = employee.compute_pay(data["bonus"] or 0, data["overtime_hours"] or 0)
        try:
            with transaction.atomic():
                payslip, created = Payslip.objects.get_or_create(
                    employee=employee,
                    period=data["period"],
                    defaults={"gross": gross, "tax": tax, "net": net},
                )
        except IntegrityError:
            payslip, created = Payslip.objects.get(employee=employee, period=data["period"]), False
        if not created:
            return redirect(f"/payroll/payslips/{payslip.pk}/")

        try:
            payslip.pdf_path = payslip.render_pdf()
            payslip.save(update_fields=["pdf_path"])
        except Exception:
            logger.exception("payslip pdf render failed payslip_id=%s", payslip.pk)
            Payslip.objects.filter(pk=payslip.pk).update(status="pdf_failed")
            form.add_error(None, "Payslip saved but the PDF could not be rendered; it will be retried.")
            return self.form_invalid(form)

        logger.info("payslip generated payslip_id=%s employee_id=%s period=%s", payslip.pk, employee.pk, payslip.period)
        return redirect(f"/payroll/payslips/{payslip.pk}/")


class PayslipListView(PermissionRequiredMixin, View):
    permission_required = "payroll.view_payslip"

    def get(self, request):
        period = request.GET.get("period")
        payslips = Payslip.objects.select_related("employee").order_by("-created_at", "pk")
        if period:
            validate_period(period)
            payslips = payslips.filter(period=period)
        try:
            size = min(max(int(request.GET.get("page_size", 50)), 1), MAX_PAGE_SIZE)
        except ValueError:
            size = 50
        page = Paginator(payslips, size).get_page(request.GET.get("page"))
        rows = [
            {
                "id": p.pk,
                "employee_id": p.employee_id,
                "employee": p.employee.full_name,
                "period": p.period,
                "net": str(p.net),
                "status": p.status,
            }
            for p in page.object_list
        ]
        return JsonResponse({"payslips": rows, "page": page.number, "pages": page.paginator.num_pages})


class PayslipDownloadView(LoginRequiredMixin, View):
    def get(self, request, pk):
        payslip = get_object_or_404(Payslip.objects.select_related("employee"), pk=pk)
        is_owner = payslip.employee.user_id == request.user.pk
        if not (is_owner or request.user.has_perm("payroll.view_payslip")):
            raise PermissionDenied
        if not payslip.pdf_path or not default_storage.exists(payslip.pdf_path):
            raise Http404("payslip not rendered")
        return FileResponse(default_storage.open(payslip.pdf_path, "rb"), content_type="application/pdf",
                            as_attachment=True, filename=f"payslip-{payslip.period}.pdf")


class SalaryAdjustmentView(PermissionRequiredMixin, FormView):
    permission_required = "payroll.change_employee"
    form_class = SalaryAdjustmentForm
    template_name = "payroll/adjust.html"

    def form_valid(self, form):
        updated = Employee.objects.filter(pk=self.kwargs["pk"]).update(
            monthly_salary=F("monthly_salary") + form.cleaned_data["amount"]
        )
        if not updated:
            raise Http404("employee not found")
        employee = Employee.objects.get(pk=self.kwargs["pk"])
        logger.info("salary adjusted employee_id=%s by_user=%s", employee.pk, self.request.user.pk)
        return JsonResponse({"id": employee.pk, "monthly_salary": str(employee.monthly_salary)})


class HealthView(View):
    def get(self, request):
        return JsonResponse({"status": "ok"})


class ReadinessView(View):
    def get(self, request):
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT 1")
        except Exception:
            logger.exception("readiness check failed")
            return JsonResponse({"status": "unavailable"}, status=503)
        return JsonResponse({"status": "ready"})
