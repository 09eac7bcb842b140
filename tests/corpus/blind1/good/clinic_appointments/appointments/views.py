import logging
import secrets

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.http import url_has_allowed_host_and_scheme
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import PATIENT_SEARCH_ORDERINGS, Appointment, Doctor, Patient, Slot, search_patients
from .tasks import send_cancellation_sms

logger = logging.getLogger(__name__)


class IsClinicStaff(permissions.BasePermission):
    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.groups.filter(name="front_desk").exists())


class StandardPagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


class DoctorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Doctor
        fields = ["id", "name", "specialty"]


class PatientSerializer(serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = ["id", "first_name", "last_name", "phone", "email", "date_of_birth"]


class PatientSearchSerializer(serializers.Serializer):
    q = serializers.CharField(min_length=2, max_length=80)
    order = serializers.ChoiceField(choices=sorted(PATIENT_SEARCH_ORDERINGS), default="last_name")


class AppointmentSerializer(serializers.ModelSerializer):
    doctor_name = serializers.CharField(source="doctor.name", read_only=True)
    patient_name = serializers.SerializerMethodField()
    duration_minutes = serializers.IntegerField(min_value=10, max_value=240, default=30)

    class Meta:
        model = Appointment
        fields = [
            "id", "patient", "doctor", "slot", "start", "duration_minutes",
            "reason", "status", "doctor_name", "patient_name",
        ]
        read_only_fields = ["status", "start"]

    def get_patient_name(self, obj):
        return f"{obj.patient.first_name} {obj.patient.last_name}"

    def validate(self, attrs):
        if attrs["slot"].doctor_id != attrs["doctor"].id:
            raise serializers.ValidationError({"slot": "slot belongs to another doctor"})
        return attrs


class RescheduleSerializer(serializers.Serializer):
    slot = serializers.PrimaryKeyRelatedField(queryset=Slot.objects.all())


class DayCancelSerializer(serializers.Serializer):
    date = serializers.DateField()


class DoctorViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Doctor.objects.filter(is_active=True).order_by("name", "id")
    serializer_class = DoctorSerializer
    pagination_class = StandardPagination


class PatientViewSet(viewsets.ModelViewSet):
    queryset = Patient.objects.all().order_by("last_name", "id")
    serializer_class = PatientSerializer
    permission_classes = [IsClinicStaff]
    pagination_class = StandardPagination

    @action(detail=False, methods=["get"])
    def search(self, request):
        params = PatientSearchSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        results = search_patients(params.validated_data["q"], params.validated_data["order"])
        return Response(PatientSerializer(results, many=True).data)


def _lock_slot(slot_id: int) -> Slot:
    return Slot.objects.select_for_update().get(pk=slot_id)


class AppointmentViewSet(viewsets.ModelViewSet):
    queryset = Appointment.objects.select_related("doctor", "patient").order_by("start", "id")
    serializer_class = AppointmentSerializer
    permission_classes = [IsClinicStaff]
    pagination_class = StandardPagination
    http_method_names = ["get", "post", "head", "options"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            slot = _lock_slot(serializer.validated_data["slot"].pk)
            if slot.booked_count >= slot.capacity:
                return Response({"error": "This slot is fully booked"}, status=status.HTTP_409_CONFLICT)
            appointment = serializer.save(start=slot.start, confirm_token=secrets.token_urlsafe(24))
            Slot.objects.filter(pk=slot.pk).update(booked_count=F("booked_count") + 1)
        logger.info("appointment booked", extra={"appointment_id": appointment.id, "slot_id": slot.pk})
        return Response(self.get_serializer(appointment).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        params = RescheduleSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        with transaction.atomic():
            appointment = get_object_or_404(Appointment.objects.select_for_update(), pk=pk)
            if appointment.status not in Appointment.ACTIVE:
                return Response({"error": "appointment is not active"}, status=status.HTTP_409_CONFLICT)
            target_id = params.validated_data["slot"].pk
            if target_id == appointment.slot_id:
                return Response(self.get_serializer(appointment).data)
            # Lock both slots in primary-key order to avoid deadlocks between concurrent reschedules.
            slots = {s.pk: s for s in Slot.objects.select_for_update().filter(pk__in=[appointment.slot_id, target_id]).order_by("pk")}
            new_slot = slots[target_id]
            if new_slot.doctor_id != appointment.doctor_id:
                return Response({"error": "slot belongs to another doctor"}, status=status.HTTP_400_BAD_REQUEST)
            if new_slot.booked_count >= new_slot.capacity:
                return Response({"error": "This slot is fully booked"}, status=status.HTTP_409_CONFLICT)
            Slot.objects.filter(pk=appointment.slot_id).update(booked_count=F("booked_count") - 1)
            Slot.objects.filter(pk=target_id).update(booked_count=F("booked_count") + 1)
            Appointment.objects.filter(pk=appointment.pk).update(slot=new_slot, start=new_slot.start, reminder_sent=False)
        appointment.refresh_from_db()
        logger.info("appointment rescheduled", extra={"appointment_id": appointment.id, "slot_id": target_id})
        return Response(self.get_serializer(appointment).data)

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        with transaction.atomic():
            appointment = get_object_or_404(Appointment.objects.select_for_update(), pk=pk)
            if appointment.status == Appointment.CANCELLED:
                return Response({"status": "cancelled", "already": True})
            if appointment.status not in Appointment.ACTIVE:
                return Response({"error": "appointment cannot be cancelled"}, status=status.HTTP_409_CONFLICT)
            Appointment.objects.filter(pk=appointment.pk).update(status=Appointment.CANCELLED)
            Slot.objects.filter(pk=appointment.slot_id, booked_count__gt=0).update(booked_count=F("booked_count") - 1)
            transaction.on_commit(lambda: send_cancellation_sms.delay(appointment.pk))
        logger.info("appointment cancelled", extra={"appointment_id": appointment.pk})
        return Response({"status": "cancelled", "already": False})


class DoctorDayCancelView(APIView):
    """Cancel every appointment a doctor has on a given day (doctor called in sick). Admins only."""

    permission_classes = [permissions.IsAdminUser]

    def post(self, request, doctor_id):
        params = DayCancelSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        day = params.validated_data["date"]
        doctor = get_object_or_404(Doctor, pk=doctor_id)
        with transaction.atomic():
            appointments = Appointment.objects.select_for_update().filter(
                doctor=doctor, start__date=day, status__in=Appointment.ACTIVE
            )
            ids = list(appointments.values_list("id", flat=True))
            Appointment.objects.filter(id__in=ids).update(status=Appointment.CANCELLED)
            Slot.objects.filter(doctor=doctor, start__date=day).update(booked_count=0)
            transaction.on_commit(lambda: [send_cancellation_sms.delay(i) for i in ids])
        logger.info("doctor day cancelled", extra={"doctor_id": doctor.pk, "date": day.isoformat(),
                                                   "count": len(ids), "by_user": request.user.pk})
        return Response({"cancelled": len(ids)})


@api_view(["GET"])
@permission_classes([permissions.AllowAny])
def confirm_appointment(request, pk):
    """Link sent by SMS: /api/appointments/<pk>/confirm/?token=...&next=..."""
    appointment = get_object_or_404(Appointment, pk=pk)
    token = request.GET.get("token", "")
    if not appointment.confirm_token or not secrets.compare_digest(token, appointment.confirm_token):
        return Response({"error": "invalid token"}, status=status.HTTP_403_FORBIDDEN)
    Appointment.objects.filter(pk=pk, status=Appointment.BOOKED).update(status=Appointment.CONFIRMED)
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={settings.PORTAL_HOST}, require_https=True):
        next_url = settings.PORTAL_CONFIRMED_URL
    return HttpResponseRedirect(next_url)


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
