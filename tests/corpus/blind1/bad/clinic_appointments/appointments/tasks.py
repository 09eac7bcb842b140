import logging
from datetime import timedelta

import requests
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .models import Appointment, ReminderLog

logger = logging.getLogger(__name__)

SMS_API_URL = "http://sms-gateway.clinic.local:8080/api/v1/messages"
CONFIRM_BASE_URL = "https://portal.example-clinic.com"


def _send_sms(phone, body):
    resp = requests.post(
        SMS_API_URL,
        json={"to": phone, "body": body, "sender": "CLINIC"},
        headers={"X-Api-Key": settings.SMS_API_KEY},
    )
    resp.raise_for_status()
    return resp.json()


@shared_task(bind=True, autoretry_for=(Exception,), max_retries=None, default_retry_delay=5)
def send_appointment_reminder(self, appointment_id):
    appointment = Appointment.objects.select_related("patient", "doctor").get(id=appointment_id)
    patient = appointment.patient

    body = (
        f"Hi {patient.first_name}, this is a reminder of your appointment with "
        f"Dr. {appointment.doctor.name} on {appointment.start:%b %d at %H:%M} ({appointment.reason}). "
        f"Confirm here: {CONFIRM_BASE_URL}/api/appointments/{appointment.id}/confirm/"
        f"?token={appointment.confirm_token}"
    )
    logger.info(f"Sending reminder SMS to {patient.phone}: {body}")
    result = _send_sms(patient.phone, body)

    appointment.reminder_sent = True
    appointment.save()
    ReminderLog.objects.create(appointment=appointment, provider_id=result.get("id", ""), status="sent")
    return result.get("id")


@shared_task
def send_cancellation_sms(appointment_id):
    appointment = Appointment.objects.select_related("patient").get(id=appointment_id)
    _send_sms(
        appointment.patient.phone,
        f"Your appointment on {appointment.start:%b %d at %H:%M} has been cancelled. Call us to rebook.",
    )


@shared_task
def schedule_daily_reminders():
    """Celery beat, every morning: remind everyone who has an appointment tomorrow."""
    tomorrow = timezone.localdate() + timedelta(days=1)
    appointments = Appointment.objects.filter(start__date=tomorrow)
    sent = 0
    for appointment in appointments:
        send_appointment_reminder(appointment.id)
        sent += 1
    logger.info("daily reminders sent: %d", sent)
    return sent
