import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction


class Hotel(models.Model):
    name = models.CharField(max_length=200)
    city = models.CharField(max_length=100)
    channel_hotel_code = models.CharField(max_length=50, unique=True)


class RoomType(models.Model):
    hotel = models.ForeignKey(Hotel, related_name="room_types", on_delete=models.CASCADE)
    name = models.CharField(max_length=100)
    base_rate = models.DecimalField(max_digits=10, decimal_places=2)
    capacity = models.PositiveSmallIntegerField(default=2)


class Inventory(models.Model):
    room_type = models.ForeignKey(RoomType, related_name="inventory", on_delete=models.CASCADE)
    date = models.DateField()
    available = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room_type", "date"], name="uniq_inventory_day"),
            models.CheckConstraint(check=models.Q(available__gte=0), name="inventory_non_negative"),
        ]


class Booking(models.Model):
    STATUS_CHOICES = [
        ("pending", "Pending"), ("confirmed", "Confirmed"), ("rejected", "Rejected"), ("cancelled", "Cancelled"),
    ]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="bookings", on_delete=models.PROTECT)
    room_type = models.ForeignKey(RoomType, related_name="bookings", on_delete=models.PROTECT)
    check_in = models.DateField()
    check_out = models.DateField()
    contact_email = models.EmailField()
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default="pending", db_index=True)
    total_price = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    channel_ref = models.CharField(max_length=64, blank=True)
    channel_request_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    idempotency_key = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(check=models.Q(check_out__gt=models.F("check_in")), name="booking_dates_ordered"),
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="uniq_booking_idempotency"),
        ]

    def nights(self):
        return (self.check_out - self.check_in).days


class Guest(models.Model):
    booking = models.ForeignKey(Booking, related_name="guests", on_delete=models.CASCADE)
    full_name = models.CharField(max_length=200)
    passport_no = models.CharField(max_length=30, blank=True)


class SoldOut(Exception):
    pass


def stay_dates(check_in, check_out):
    day = check_in
    while day < check_out:
        yield day
        day += timedelta(days=1)


def reserve_inventory(room_type, check_in, check_out):
    """Take one room for every night; must run inside the caller's transaction."""
    assert transaction.get_connection().in_atomic_block, "reserve_inventory needs a transaction"
    nights = list(stay_dates(check_in, check_out))
    rows = list(
        Inventory.objects.select_for_update()
        .filter(room_type=room_type, date__gte=check_in, date__lt=check_out)
        .order_by("date")
    )
    if len(rows) != len(nights) or any(r.available <= 0 for r in rows):
        raise SoldOut(f"{room_type.name} is not available for the whole stay")
    Inventory.objects.filter(pk__in=[r.pk for r in rows]).update(available=models.F("available") - 1)


def release_inventory(room_type, check_in, check_out):
    Inventory.objects.filter(room_type=room_type, date__gte=check_in, date__lt=check_out).update(
        available=models.F("available") + 1
    )
