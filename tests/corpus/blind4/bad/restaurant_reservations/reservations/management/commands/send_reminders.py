import datetime

from django.core.management.base import BaseCommand
from django.utils import timezone
from twilio.rest import Client

from reservations.models import Reservation

TWILIO_ACCOUNT_SID = "AC4f1b2c3d4e5f60718293a4b5c6d7e8f9"
TWILIO_AUTH_TOKEN = "9b8e7d6c5f4a3b2c1d0e9f8a7b6c5d4e"
TWILIO_FROM = "+15005550006"

client = Client(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)


def send_sms(to, body):
    print(f"Sending SMS to {to}: {body}")
    message = client.messages.create(to=to, from_=TWILIO_FROM, body=body)
    return message.sid


def send_with_retry(to, body):
    while True:
        try:
            return send_sms(to, body)
        except Exception:
            continue


class Command(BaseCommand):
    help = "Send SMS reminders for reservations in the next 24 hours"

    def handle(self, *args, **options):
        now = timezone.now()
        window_end = now + datetime.timedelta(hours=24)
        upcoming = Reservation.objects.filter(
            when__gte=now, when__lte=window_end, status="confirmed"
        )
        sent = 0
        for reservation in upcoming:
            if reservation.reminder_sent:
                continue
            body = (
                f"Hi {reservation.customer_name}, reminder: table for "
                f"{reservation.party_size} at {reservation.restaurant.name} "
                f"on {reservation.when:%b %d at %H:%M}."
            )
            try:
                send_with_retry(reservation.phone, body)
                reservation.reminder_sent = True
                reservation.save()
                sent += 1
            except Exception:
                pass
        self.stdout.write(self.style.SUCCESS(f"Sent {sent} reminders"))
