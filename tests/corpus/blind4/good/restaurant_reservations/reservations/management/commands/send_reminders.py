import datetime
import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from reservations.models import Reservation

logger = logging.getLogger(__name__)

_client = None


def get_client():
    global _client
    if _client is None:
        for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"):
            if not getattr(settings, name, None):
                raise ImproperlyConfigured(f"{name} must be set (read from the environment in settings)")
        _client = Client(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            http_client=TwilioHttpClient(timeout=10),
        )
    return _client


def mask_phone(phone):
    return f"***{phone[-4:]}" if phone else ""


def send_sms(to, body):
    """Single attempt: SMS sends are not idempotent, so callers decide on retries."""
    message = get_client().messages.create(to=to, from_=settings.TWILIO_FROM, body=body)
    logger.info("sms sent", extra={"to": mask_phone(to), "sid": message.sid})
    return message.sid


class Command(BaseCommand):
    help = "Send SMS reminders for reservations in the next 24 hours"

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args, **options):
        now = timezone.now()
        window_end = now + datetime.timedelta(hours=24)
        sent = failed = 0
        while True:
            with transaction.atomic():
                batch = list(
                    Reservation.objects.select_for_update(skip_locked=True)
                    .select_related("restaurant")
                    .filter(when__gte=now, when__lte=window_end, status="confirmed",
                            reminder_sent_at__isnull=True)
                    .order_by("when")[: options["batch_size"]]
                )
                if not batch:
                    break
                for reservation in batch:
                    body = (
                        f"Hi {reservation.customer_name}, reminder: table for "
                        f"{reservation.party_size} at {reservation.restaurant.name} "
                        f"on {reservation.when:%b %d at %H:%M}."
                    )
                    # Mark first so a crash never double-sends; a failed send is logged for follow-up.
                    reservation.reminder_sent_at = timezone.now()
                    reservation.save(update_fields=["reminder_sent_at"])
                    try:
                        send_sms(reservation.phone, body)
                        sent += 1
                    except TwilioRestException:
                        failed += 1
                        logger.exception("reminder failed", extra={"reservation_id": reservation.pk})
        logger.info("reminders done", extra={"sent": sent, "failed": failed})
        if failed:
            self.stderr.write(f"Sent {sent} reminders, {failed} failed")
        else:
            self.stdout.write(self.style.SUCCESS(f"Sent {sent} reminders"))
