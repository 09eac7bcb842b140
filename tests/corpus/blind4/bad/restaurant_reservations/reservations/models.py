from django.db import models


class Restaurant(models.Model):
    name = models.CharField(max_length=200)
    capacity = models.IntegerField(default=40)
    seats_booked = models.IntegerField(default=0)
    phone = models.CharField(max_length=32, blank=True)

    def __str__(self):
        return self.name


class Reservation(models.Model):
    restaurant = models.ForeignKey(Restaurant, on_delete=models.CASCADE)
    customer_name = models.CharField(max_length=200)
    phone = models.CharField(max_length=32)
    email = models.CharField(max_length=200, blank=True)
    party_size = models.IntegerField()
    when = models.DateTimeField()
    status = models.CharField(max_length=20, default="pending")
    reminder_sent = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def confirm(self):
        self.status = "confirmed"
        self.save()
        restaurant = self.restaurant
        restaurant.seats_booked = restaurant.seats_booked + self.party_size
        restaurant.save()

    def release(self):
        restaurant = Restaurant.objects.get(pk=self.restaurant_id)
        restaurant.seats_booked -= self.party_size
        restaurant.save()
        self.status = "cancelled"
        self.save()
