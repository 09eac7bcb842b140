import logging
import secrets

from django.db.models import F
from django.shortcuts import get_object_or_404, redirect
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Appointment, Doctor, Patient, Slot, search_patients
from .tasks import send_cancellation_sms

logger = logging.getLogger(__name__)


class DoctorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Doctor
        fields = ["id", "name", "specialty"]


class PatientSerializer(serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = "__all__"


class AppointmentSerializer(serializers.ModelSerializer):
    doctor_name = serializers.SerializerMethodField()
    patient_name = serializers.SerializerMethodField()
    duration_minutes = serializers.IntegerField(min_value=10, max_value=240, default=30)

    class Meta:
        model = Appointment
        fields = [
            "id", "patient", "doctor", "slot", "start", "duration_minutes",
            "reason", "status", "doctor_name", "patient_name",
        ]
        read_only_fields = ["status"]

    def get_doctor_name(self, obj):
        return obj.doctor.name

    def get_patient_name(self, obj):
        return f"{obj.patient.first_name} {obj.patient.last_name}"


class DoctorViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Doctor.objects.filter(is_active=True)
    serializer_class = DoctorSerializer


class PatientViewSet(viewsets.ModelViewSet):
    queryset = Patient.objects.all().order_by("last_name")
    serializer_class = PatientSerializer

    @action(detail=False, methods=["get"])
    def search(self, request):
        q = request.query_params.get("q", "")
        order = request.query_params.get("order", "last_name")
        results = search_patients(q, order)
        return Response(PatientSerializer(results, many=True).data)


class AppointmentViewSet(viewsets.ModelViewSet):
    queryset = Appointment.objects.all()
    serializer_class = AppointmentSerializer
    pagination_class = None

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        slot = serializer.validated_data["slot"]

        if slot.booked_count >= slot.capacity:
            return Response({"error": "This slot is fully booked"}, status=status.HTTP_409_CONFLICT)

        appointment = serializer.save(confirm_token=secrets.token_urlsafe(24))
        slot.booked_count += 1
        slot.save()
        return Response(self.get_serializer(appointment).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        appointment = self.get_object()
        new_slot = get_object_or_404(Slot, pk=request.data.get("slot"))
        if new_slot.booked_count >= new_slot.capacity:
            return Response({"error": "This slot is fully booked"}, status=status.HTTP_409_CONFLICT)

        Slot.objects.filter(pk=appointment.slot_id).update(booked_count=F("booked_count") - 1)
        Slot.objects.filter(pk=new_slot.pk).update(booked_count=F("booked_count") + 1)

        appointment.slot = new_slot
        appointment.start = new_slot.start
        appointment.reminder_sent = False
        appointment.save()
        return Response(self.get_serializer(appointment).data)

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        try:
            appointment = self.get_object()
            appointment.status = "cancelled"
            appointment.save()
            slot = appointment.slot
            slot.booked_count = slot.booked_count - 1
            slot.save()
            send_cancellation_sms.delay(appointment.id)
        except Exception as e:
            logger.error(f"cancel failed for appointment {pk}: {e}")
        return Response({"status": "cancelled"})


class DoctorDayCancelView(APIView):
    """Cancel every appointment a doctor has on a given day (doctor called in sick)."""

    def post(self, request, doctor_id):
        day = request.data.get("date")
        appointments = Appointment.objects.filter(doctor_id=doctor_id, start__date=day).exclude(status="cancelled")
        ids = list(appointments.values_list("id", flat=True))
        appointments.update(status="cancelled")
        Slot.objects.filter(doctor_id=doctor_id, start__date=day).update(booked_count=0)
        for appointment_id in ids:
            send_cancellation_sms.delay(appointment_id)
        logger.info("cancelled %d appointments for doctor %s on %s", len(ids), doctor_id, day)
        return Response({"cancelled": len(ids)})


@api_view(["GET"])
@permission_classes([permissions.AllowAny])
def confirm_appointment(request, pk):
    """Link sent by SMS: /api/appointments/<pk>/confirm/?token=...&next=..."""
    appointment = get_object_or_404(Appointment, pk=pk)
    if not secrets.compare_digest(request.GET.get("token", ""), appointment.confirm_token):
        return Response({"error": "invalid token"}, status=status.HTTP_403_FORBIDDEN)
    appointment.status = "confirmed"
    appointment.save(update_fields=["status"])
    return redirect(request.GET.get("next", "/"))
