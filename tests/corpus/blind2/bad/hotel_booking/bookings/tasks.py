import logging

import requests
from celery import shared_task
from django.conf import settings

from .models import Booking

logger = logging.getLogger(__name__)


def _channel_payload(booking):
    return {
        "hotel_code": booking.room_type.hotel.channel_hotel_code,
        "room_type": booking.room_type.name,
        "arrival": booking.check_in.isoformat(),
        "departure": booking.check_out.isoformat(),
        "guests": [g.full_name for g in booking.guests.all()],
        "total": str(booking.total_price),
    }


def _push_to_channel_manager(booking):
    return requests.post(
        f"{settings.CHANNEL_MANAGER_URL}/reservations",
        json=_channel_payload(booking),
        headers={"X-Api-Key": settings.CHANNEL_MANAGER_KEY},
    )


@shared_task(bind=True, max_retries=None)
def confirm_booking(self, booking_id):
    booking = Booking.objects.select_related("room_type__hotel").get(pk=booking_id)
    try:
        resp = _push_to_channel_manager(booking)
    except requests.RequestException as exc:
        logger.warning("channel manager unreachable, retrying: %s", exc)
        raise self.retry(exc=exc, countdown=5)

    booking.channel_ref = resp.json().get("reservation_id", "")
    booking.status = "confirmed"
    booking.save()
    logger.info("booking %s confirmed with channel manager", booking_id)
    return booking.channel_ref
