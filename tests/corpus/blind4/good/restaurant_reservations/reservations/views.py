import logging

from django import forms
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.db import IntegrityError, connection, transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from django.views import View
from django.views.decorators.http import require_POST

from reservations.management.commands.send_reminders import send_sms
from reservations.models import CapacityExceeded, Reservation, Restaurant

logger = logging.getLogger(__name__)
PAGE_SIZE = 50


class ReservationForm(forms.Form):
    restaurant_id = forms.IntegerField(min_value=1)
    name = forms.CharField(max_length=200)
    phone = forms.RegexField(regex=r"^\+[1-9]\d{6,14}$")
    email = forms.EmailField(required=False)
    party_size = forms.IntegerField(min_value=1, max_value=20)
    when = forms.DateTimeField()


def serialize(r):
    return {
        "id": r.pk,
        "restaurant": r.restaurant.name,
        "party_size": r.party_size,
        "when": r.when.isoformat(),
        "status": r.status,
    }


def notify_confirmed(reservation):
    try:
        send_sms(reservation.phone, f"Your table at {reservation.restaurant.name} is confirmed for {reservation.when}.")
    except Exception:
        logger.exception("confirmation sms failed", extra={"reservation_id": reservation.pk})


class ReservationView(LoginRequiredMixin, View):
    raise_exception = True

    def get(self, request):
        qs = (
            Reservation.objects.filter(owner=request.user)
            .select_related("restaurant")
            .order_by("-when")
        )
        page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
        return JsonResponse(
            {"reservations": [serialize(r) for r in page], "has_next": page.has_next()}
        )

    def post(self, request):
        form = ReservationForm(request.POST)
        if not form.is_valid():
            return JsonResponse({"errors": form.errors}, status=400)
        key = request.headers.get("Idempotency-Key")
        if not key or len(key) > 64:
            return JsonResponse({"error": "Idempotency-Key header required"}, status=400)
        existing = Reservation.objects.filter(idempotency_key=key, owner=request.user).first()
        if existing:
            return JsonResponse(serialize(existing), status=200)
        data = form.cleaned_data
        try:
            reservation = Reservation.book(
                restaurant_id=data["restaurant_id"], owner=request.user,
                customer_name=data["name"], phone=data["phone"], email=data["email"],
                party_size=data["party_size"], when=data["when"], idempotency_key=key,
            )
        except Restaurant.DoesNotExist:
            return JsonResponse({"error": "restaurant not found"}, status=404)
        except CapacityExceeded:
            return JsonResponse({"error": "fully booked"}, status=409)
        except IntegrityError:
            existing = get_object_or_404(Reservation, idempotency_key=key, owner=request.user)
            return JsonResponse(serialize(existing), status=200)
        logger.info("reservation created", extra={"reservation_id": reservation.pk})
        transaction.on_commit(lambda: notify_confirmed(reservation))
        return JsonResponse(serialize(reservation), status=201)


@login_required
@require_POST
def cancel_reservation(request, reservation_id):
    reservation = get_object_or_404(Reservation, pk=reservation_id, owner=request.user)
    reservation.release()
    return JsonResponse({"id": reservation.pk, "status": "cancelled"})


@login_required
def search_reservations(request):
    name = request.GET.get("name", "")[:100]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, customer_name, party_size, \"when\" FROM reservations_reservation "
            "WHERE owner_id = %s AND customer_name ILIKE %s ORDER BY \"when\" DESC LIMIT %s",
            [request.user.pk, f"%{name}%", PAGE_SIZE],
        )
        rows = cursor.fetchall()
    return JsonResponse({"results": [
        {"id": r[0], "name": r[1], "party_size": r[2], "when": r[3].isoformat()} for r in rows
    ]})


class RestaurantStatsView(View):
    def get(self, request, restaurant_id):
        restaurant = get_object_or_404(Restaurant, pk=restaurant_id)
        upcoming = Reservation.objects.filter(restaurant=restaurant, status="confirmed").count()
        return JsonResponse({
            "name": restaurant.name,
            "seats_left": restaurant.capacity - restaurant.seats_booked,
            "upcoming": upcoming,
        })


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.exception("readiness check failed")
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ready"})


urlpatterns = [
    path("healthz", healthz),
    path("readyz", readyz),
    path("reservations/", ReservationView.as_view()),
    path("reservations/<int:reservation_id>/cancel/", cancel_reservation),
    path("reservations/search/", search_reservations),
    path("restaurants/<int:restaurant_id>/stats/", RestaurantStatsView.as_view()),
]
