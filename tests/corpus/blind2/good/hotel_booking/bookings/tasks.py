import logging

import requests
from celery import shared_task
from django.conf import settings

from .models import Booking

logger = logging.getLogger(__name__)

_session = requests.Session()


class ChannelManagerUnavailable(Exception):
    pass


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
    try:
        resp = _session.post(
            f"{settings.CHANNEL_MANAGER_URL}/reservations",
            json=_channel_payload(booking),
            headers={
                "X-Api-Key": settings.CHANNEL_MANAGER_KEY,
                # stable per booking: a retried POST returns the original reservation
                "Idempotency-Key": str(booking.channel_request_id),
            },
            timeout=settings.CHANNEL_MANAGER_TIMEOUT,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise ChannelManagerUnavailable(str(exc)) from exc
    if resp.status_code == 429 or resp.status_code >= 500:
        raise ChannelManagerUnavailable(f"channel manager returned {resp.status_code}")
    return resp


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(ChannelManagerUnavailable,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def confirm_booking(self, booking_id):
    booking = (
        Booking.objects.select_related("room_type__hotel").prefetch_related("guests").filter(pk=booking_id).first()
    )
    if booking is None or booking.status != "pending":
        logger.info("confirm skipped", extra={"booking_id": booking_id, "status": getattr(booking, "status", None)})
        return None

    resp = _push_to_channel_manager(booking)
    if resp.status_code >= 400:
        Booking.objects.filter(pk=booking_id, status="pending").update(status="rejected")
        logger.error("channel manager rejected booking",
                     extra={"booking_id": booking_id, "status_code": resp.status_code, "body": resp.text[:500]})
        return None

    reservation_id = str(resp.json()["reservation_id"])
    # conditional update: never overwrite a cancellation that happened during the HTTP call
    updated = Booking.objects.filter(pk=booking_id, status="pending").update(
        status="confirmed", channel_ref=reservation_id
    )
    if not updated:
        logger.warning("booking changed during confirmation; channel reservation needs cancel",
                       extra={"booking_id": booking_id, "channel_ref": reservation_id})
    logger.info("booking confirmed", extra={"booking_id": booking_id, "channel_ref": reservation_id})
    return reservation_id
