from django.db import models
from django.db.models import Q


class Doctor(models.Model):
    name = models.CharField(max_length=120)
    specialty = models.CharField(max_length=80)
    phone = models.CharField(max_length=32)
    is_active = models.BooleanField(default=True)

    def __str__(self):
        return f"Dr. {self.name}"


class Patient(models.Model):
    first_name = models.CharField(max_length=80)
    last_name = models.CharField(max_length=80, db_index=True)
    phone = models.CharField(max_length=32, db_index=True)
    email = models.EmailField(blank=True)
    date_of_birth = models.DateField()
    insurance_number = models.CharField(max_length=40, blank=True)
    medical_notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Patient #{self.pk}"


class Slot(models.Model):
    doctor = models.ForeignKey(Doctor, on_delete=models.CASCADE, related_name="slots")
    start = models.DateTimeField()
    end = models.DateTimeField()
    capacity = models.PositiveIntegerField(default=1)
    booked_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(check=Q(booked_count__lte=models.F("capacity")), name="slot_not_overbooked"),
            models.CheckConstraint(check=Q(end__gt=models.F("start")), name="slot_end_after_start"),
        ]
        indexes = [models.Index(fields=["doctor", "start"])]


class Appointment(models.Model):
    BOOKED, CONFIRMED, CANCELLED, COMPLETED = "booked", "confirmed", "cancelled", "completed"
    STATUS_CHOICES = [
        (BOOKED, "Booked"),
        (CONFIRMED, "Confirmed"),
        (CANCELLED, "Cancelled"),
        (COMPLETED, "Completed"),
    ]
    ACTIVE = (BOOKED, CONFIRMED)

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="appointments")
    doctor = models.ForeignKey(Doctor, on_delete=models.CASCADE, related_name="appointments")
    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="appointments")
    start = models.DateTimeField(db_index=True)
    duration_minutes = models.PositiveIntegerField(default=30)
    reason = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=BOOKED)
    confirm_token = models.CharField(max_length=64, blank=True)
    reminder_sent = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start", "id"]
        indexes = [models.Index(fields=["status", "reminder_sent", "start"])]


class ReminderLog(models.Model):
    REMINDER, CANCELLATION = "reminder", "cancellation"

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=16, default=REMINDER)
    provider_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["appointment", "kind"], name="one_message_per_kind"),
        ]


PATIENT_SEARCH_ORDERINGS = {
    "last_name": ("last_name", "first_name", "id"),
    "-last_name": ("-last_name", "-first_name", "-id"),
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
}


def search_patients(term: str, order_by: str = "last_name", limit: int = 50):
    """Front-desk search by name or phone number. order_by must be a key of PATIENT_SEARCH_ORDERINGS."""
    ordering = PATIENT_SEARCH_ORDERINGS[order_by]
    return (
        Patient.objects.filter(
            Q(last_name__icontains=term) | Q(first_name__icontains=term) | Q(phone__contains=term)
        )
        .order_by(*ordering)[:limit]
    )
