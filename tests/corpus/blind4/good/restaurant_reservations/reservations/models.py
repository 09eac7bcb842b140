from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.db.models import F

phone_validator = RegexValidator(r"^\+[1-9]\d{6,14}$", "phone must be E.164, e.g. +15551234567")


class CapacityExceeded(Exception):
    pass


class Restaurant(models.Model):
    name = models.CharField(max_length=200)
    capacity = models.PositiveIntegerField(default=40)
    seats_booked = models.PositiveIntegerField(default=0)
    phone = models.CharField(max_length=32, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                check=models.Q(seats_booked__lte=F("capacity")), name="seats_within_capacity"
            )
        ]

    def __str__(self):
        return self.name


class Reservation(models.Model):
    restaurant = models.ForeignKey(Restaurant, on_delete=models.PROTECT, related_name="reservations")
    owner = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="reservations")
    customer_name = models.CharField(max_length=200)
    phone = models.CharField(max_length=32, validators=[phone_validator])
    email = models.EmailField(blank=True)
    party_size = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    when = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=20, default="pending")
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=64, unique=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    @classmethod
    def book(cls, *, restaurant_id, **fields):
        """Reserve seats and create the booking in one transaction under a row lock."""
        with transaction.atomic():
            restaurant = Restaurant.objects.select_for_update().get(pk=restaurant_id)
            if restaurant.capacity - restaurant.seats_booked < fields["party_size"]:
                raise CapacityExceeded(restaurant.pk)
            Restaurant.objects.filter(pk=restaurant.pk).update(
                seats_booked=F("seats_booked") + fields["party_size"]
            )
            return cls.objects.create(restaurant=restaurant, status="confirmed", **fields)

    def release(self):
        with transaction.atomic():
            locked = Reservation.objects.select_for_update().get(pk=self.pk)
            if locked.status == "cancelled":
                return False
            Restaurant.objects.filter(pk=locked.restaurant_id).update(
                seats_booked=F("seats_booked") - locked.party_size
            )
            locked.status = "cancelled"
            locked.save(update_fields=["status"])
            self.status = "cancelled"
            return True
