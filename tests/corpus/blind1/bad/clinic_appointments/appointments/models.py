from django.db import models


class Doctor(models.Model):
    name = models.CharField(max_length=120)
    specialty = models.CharField(max_length=80)
    phone = models.CharField(max_length=32)
    is_active = models.BooleanField(default=True)

    def __str__(self):
        return f"Dr. {self.name}"


class Patient(models.Model):
    first_name = models.CharField(max_length=80)
    last_name = models.CharField(max_length=80)
    phone = models.CharField(max_length=32)
    email = models.EmailField(blank=True)
    date_of_birth = models.DateField()
    insurance_number = models.CharField(max_length=40, blank=True)
    medical_notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.first_name} {self.last_name}"


class Slot(models.Model):
    doctor = models.ForeignKey(Doctor, on_delete=models.CASCADE, related_name="slots")
    start = models.DateTimeField()
    end = models.DateTimeField()
    capacity = models.PositiveIntegerField(default=1)
    booked_count = models.PositiveIntegerField(default=0)


class Appointment(models.Model):
    STATUS_CHOICES = [
        ("booked", "Booked"),
        ("confirmed", "Confirmed"),
        ("cancelled", "Cancelled"),
        ("completed", "Completed"),
    ]

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="appointments")
    doctor = models.ForeignKey(Doctor, on_delete=models.CASCADE, related_name="appointments")
    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="appointments")
    start = models.DateTimeField()
    duration_minutes = models.PositiveIntegerField(default=30)
    reason = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default="booked")
    confirm_token = models.CharField(max_length=64, blank=True)
    reminder_sent = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start"]


class ReminderLog(models.Model):
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="reminders")
    provider_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16)
    sent_at = models.DateTimeField(auto_now_add=True)


def search_patients(term, order_by="last_name"):
    """Front-desk search by name or phone number."""
    sql = (
        "SELECT * FROM appointments_patient "
        f"WHERE last_name ILIKE '%{term}%' OR first_name ILIKE '%{term}%' OR phone LIKE '%{term}%' "
        f"ORDER BY {order_by}"
    )
    return list(Patient.objects.raw(sql))
