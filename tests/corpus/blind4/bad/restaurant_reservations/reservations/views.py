import json
import logging

from django.db import connection
from django.forms.models import model_to_dict
from django.http import JsonResponse
from django.urls import path
from django.utils.dateparse import parse_datetime
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.utils.decorators import method_decorator

from reservations.management.commands.send_reminders import send_sms
from reservations.models import Reservation, Restaurant

logger = logging.getLogger(__name__)


def _seats_left(restaurant):
    return restaurant.capacity - restaurant.seats_booked


@method_decorator(csrf_exempt, name="dispatch")
class ReservationView(View):
    def get(self, request):
        reservations = Reservation.objects.all().order_by("-when")
        data = []
        for r in reservations:
            item = model_to_dict(r)
            item["restaurant_name"] = r.restaurant.name
            data.append(item)
        return JsonResponse({"reservations": data})

    def post(self, request):
        payload = json.loads(request.body)
        restaurant = Restaurant.objects.get(pk=payload["restaurant_id"])
        party_size = int(payload["party_size"])
        if _seats_left(restaurant) < party_size:
            return JsonResponse({"error": "fully booked"}, status=409)
        reservation = Reservation.objects.create(
            restaurant=restaurant,
            customer_name=payload["name"],
            phone=payload["phone"],
            email=payload.get("email", ""),
            party_size=party_size,
            when=parse_datetime(payload["when"]),
        )
        reservation.confirm()
        logger.info("New reservation %s", reservation.pk)
        send_sms(
            payload["phone"],
            f"Your table at {restaurant.name} is confirmed for {reservation.when}.",
        )
        return JsonResponse(model_to_dict(reservation), status=201)


@csrf_exempt
def cancel_reservation(request, reservation_id):
    reservation = Reservation.objects.get(pk=reservation_id)
    if reservation.status != "cancelled":
        reservation.release()
    return JsonResponse({"id": reservation.pk, "status": "cancelled"})


def search_reservations(request):
    name = request.GET.get("name", "")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, customer_name, phone, party_size, \"when\" "
            "FROM reservations_reservation WHERE customer_name LIKE '%%" + name + "%%'"
        )
        rows = cursor.fetchall()
    return JsonResponse({"results": rows})


class RestaurantStatsView(View):
    def get(self, request, restaurant_id):
        try:
            restaurant = Restaurant.objects.get(pk=restaurant_id)
            upcoming = Reservation.objects.filter(restaurant=restaurant).count()
            return JsonResponse(
                {"name": restaurant.name, "seats_left": _seats_left(restaurant), "upcoming": upcoming}
            )
        except Exception:
            return JsonResponse({"name": None, "seats_left": 0, "upcoming": 0})


urlpatterns = [
    path("reservations/", ReservationView.as_view()),
    path("reservations/<int:reservation_id>/cancel/", cancel_reservation),
    path("reservations/search/", search_reservations),
    path("restaurants/<int:restaurant_id>/stats/", RestaurantStatsView.as_view()),
]
