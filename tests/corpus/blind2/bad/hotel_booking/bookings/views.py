from datetime import datetime

from django.urls import include, path
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from .models import Booking, Guest, Hotel, Inventory, RoomType, SoldOut, release_inventory, reserve_inventory
from .tasks import confirm_booking

_availability_cache = {}


class GuestSerializer(serializers.ModelSerializer):
    class Meta:
        model = Guest
        fields = ["id", "full_name", "passport_no"]


class BookingSerializer(serializers.ModelSerializer):
    guests = GuestSerializer(many=True)
    hotel_name = serializers.CharField(source="room_type.hotel.name", read_only=True)

    class Meta:
        model = Booking
        fields = "__all__"

    def create(self, validated_data):
        guests = validated_data.pop("guests")
        booking = Booking.objects.create(**validated_data)
        for guest in guests:
            Guest.objects.create(booking=booking, **guest)
        reserve_inventory(booking.room_type, booking.check_in, booking.check_out)
        booking.total_price = booking.room_type.base_rate * booking.nights()
        booking.save()
        return booking


class HotelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Hotel
        fields = "__all__"


class RoomTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = RoomType
        fields = "__all__"


class HotelViewSet(viewsets.ModelViewSet):
    queryset = Hotel.objects.all()
    serializer_class = HotelSerializer


class RoomTypeViewSet(viewsets.ModelViewSet):
    queryset = RoomType.objects.all()
    serializer_class = RoomTypeSerializer

    @action(detail=True, methods=["get"])
    def availability(self, request, pk=None):
        start = datetime.strptime(request.query_params["start"], "%Y-%m-%d").date()
        end = datetime.strptime(request.query_params["end"], "%Y-%m-%d").date()
        key = (pk, start, end)
        if key not in _availability_cache:
            rows = Inventory.objects.filter(room_type_id=pk, date__gte=start, date__lt=end).order_by("date")
            _availability_cache[key] = [{"date": r.date.isoformat(), "available": r.available} for r in rows]
        return Response(_availability_cache[key])


class BookingViewSet(viewsets.ModelViewSet):
    queryset = Booking.objects.all()
    serializer_class = BookingSerializer

    def get_queryset(self):
        qs = super().get_queryset()
        email = self.request.query_params.get("email")
        if email:
            qs = qs.extra(where=[f"contact_email = '{email}'"])
        return qs

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            booking = serializer.save()
        except SoldOut as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        confirm_booking.delay(booking.id)
        print(f"booking {booking.id} created for {booking.contact_email}")
        return Response(self.get_serializer(booking).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        booking = self.get_object()
        if booking.status != "cancelled":
            booking.status = "cancelled"
            booking.save()
            release_inventory(booking.room_type, booking.check_in, booking.check_out)
        return Response({"status": booking.status})


router = DefaultRouter()
router.register("hotels", HotelViewSet)
router.register("room-types", RoomTypeViewSet)
router.register("bookings", BookingViewSet)

urlpatterns = [path("api/", include(router.urls))]
