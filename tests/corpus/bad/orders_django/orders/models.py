from functools import lru_cache

from django.db import models


class Product(models.Model):
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    stock = models.IntegerField(default=0)


class Customer(models.Model):
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)
    loyalty_points = models.IntegerField(default=0)

    @lru_cache(maxsize=1024)
    def discount_rate(self):
        spent = sum(o.total for o in self.orders.filter(status="paid"))
        return 0.1 if spent > 1000 else 0.0


class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    status = models.CharField(max_length=20, default="pending")
    total = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    created_at = models.DateTimeField(auto_now_add=True)


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    quantity = models.IntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
