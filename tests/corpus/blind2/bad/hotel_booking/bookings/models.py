from datetime import timedelta

from django.db import models


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
        unique_together = ("room_type", "date")


class Booking(models.Model):
    STATUS_CHOICES = [("pending", "Pending"), ("confirmed", "Confirmed"), ("cancelled", "Cancelled")]

    room_type = models.ForeignKey(RoomType, related_name="bookings", on_delete=models.PROTECT)
    check_in = models.DateField()
    check_out = models.DateField()
    contact_email = models.EmailField()
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default="pending")
    total_price = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    channel_ref = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

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
    """Take one room out of inventory for every night of the stay."""
    for day in stay_dates(check_in, check_out):
        inv = Inventory.objects.get(room_type=room_type, date=day)
        if inv.available <= 0:
            raise SoldOut(f"{room_type.name} sold out on {day}")
        inv.available = inv.available - 1
        inv.save()


def release_inventory(room_type, check_in, check_out):
    for day in stay_dates(check_in, check_out):
        Inventory.objects.filter(room_type=room_type, date=day).update(available=models.F("available") + 1)
