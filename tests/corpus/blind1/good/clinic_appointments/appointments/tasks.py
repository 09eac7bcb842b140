import logging
from datetime import timedelta

import requests
from celery import shared_task
from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone
from requests.adapters import HTTPAdapter

from .models import Appointment, ReminderLog

logger = logging.getLogger(__name__)

# Settings are validated in settings.py at startup (SMS_API_URL must be https, key non-empty).
SMS_TIMEOUT = (3.05, 10)

_session = requests.Session()
_session.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=16))


class SmsTransientError(Exception):
    """Gateway unreachable or answered 429/5xx: safe to retry thanks to the idempotency key."""


def _send_sms(phone: str, body: str, idempotency_key: str) -> dict:
    try:
        resp = _session.post(
            settings.SMS_API_URL,
            json={"to": phone, "body": body, "sender": settings.SMS_SENDER_ID},
            headers={"X-Api-Key": settings.SMS_API_KEY, "Idempotency-Key": idempotency_key},
            timeout=SMS_TIMEOUT,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise SmsTransientError(str(exc)) from exc
    if resp.status_code == 429 or resp.status_code >= 500:
        raise SmsTransientError(f"gateway status {resp.status_code}")
    resp.raise_for_status()  # 4xx: permanent, do not retry
    return resp.json()


def _claim(appointment_id: int, kind: str) -> bool:
    """Record the intent to send once; a duplicate task finds the row and stops."""
    try:
        ReminderLog.objects.create(appointment_id=appointment_id, kind=kind, status="pending")
        return True
    except IntegrityError:
        return ReminderLog.objects.filter(appointment_id=appointment_id, kind=kind, status="pending").exists()


@shared_task(
    bind=True,
    autoretry_for=(SmsTransientError,),
    retry_backoff=30,
    retry_backoff_max=900,
    retry_jitter=True,
    max_retries=6,
    acks_late=True,
)
def send_appointment_reminder(self, appointment_id: int):
    appointment = (
        Appointment.objects.select_related("patient", "doctor")
        .filter(id=appointment_id, status__in=Appointment.ACTIVE, reminder_sent=False)
        .first()
    )
    if appointment is None:
        logger.info("reminder skipped", extra={"appointment_id": appointment_id, "reason": "inactive_or_sent"})
        return None
    if not _claim(appointment_id, ReminderLog.REMINDER):
        return None

    body = (
        f"Hi {appointment.patient.first_name}, reminder of your appointment with "
        f"Dr. {appointment.doctor.name} on {timezone.localtime(appointment.start):%b %d at %H:%M}. "
        f"Confirm: {settings.PORTAL_BASE_URL}/api/appointments/{appointment.id}/confirm/"
        f"?token={appointment.confirm_token}"
    )
    result = _send_sms(appointment.patient.phone, body, idempotency_key=f"reminder-{appointment_id}")

    # Narrow updates: never overwrite fields (status!) changed while we were sending.
    Appointment.objects.filter(pk=appointment_id).update(reminder_sent=True)
    ReminderLog.objects.filter(appointment_id=appointment_id, kind=ReminderLog.REMINDER).update(
        status="sent", provider_id=str(result.get("id", ""))[:64]
    )
    logger.info("reminder sent", extra={"appointment_id": appointment_id, "provider_id": result.get("id")})
    return result.get("id")


@shared_task(
    bind=True,
    autoretry_for=(SmsTransientError,),
    retry_backoff=30,
    retry_backoff_max=900,
    retry_jitter=True,
    max_retries=6,
    acks_late=True,
)
def send_cancellation_sms(self, appointment_id: int):
    appointment = Appointment.objects.select_related("patient").filter(id=appointment_id).first()
    if appointment is None or appointment.status != Appointment.CANCELLED:
        return None
    if not _claim(appointment_id, ReminderLog.CANCELLATION):
        return None
    result = _send_sms(
        appointment.patient.phone,
        f"Your appointment on {timezone.localtime(appointment.start):%b %d at %H:%M} has been cancelled. "
        "Call us to rebook.",
        idempotency_key=f"cancel-{appointment_id}",
    )
    ReminderLog.objects.filter(appointment_id=appointment_id, kind=ReminderLog.CANCELLATION).update(
        status="sent", provider_id=str(result.get("id", ""))[:64]
    )
    logger.info("cancellation sms sent", extra={"appointment_id": appointment_id})
    return result.get("id")


@shared_task
def schedule_daily_reminders():
    """Celery beat, every morning: enqueue one reminder task per appointment tomorrow."""
    tomorrow = timezone.localdate() + timedelta(days=1)
    ids = (
        Appointment.objects.filter(start__date=tomorrow, status__in=Appointment.ACTIVE, reminder_sent=False)
        .values_list("id", flat=True)
        .iterator(chunk_size=500)
    )
    queued = 0
    for appointment_id in ids:
        send_appointment_reminder.delay(appointment_id)
        queued += 1
    logger.info("daily reminders queued", extra={"count": queued, "date": tomorrow.isoformat()})
    return queued
