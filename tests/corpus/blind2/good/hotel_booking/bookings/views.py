import logging
from datetime import date

from django.db import IntegrityError, connection, transaction
from django.http import JsonResponse
from django.urls import include, path
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from .models import Booking, Guest, Hotel, Inventory, RoomType, SoldOut, release_inventory, reserve_inventory
from .tasks import confirm_booking

logger = logging.getLogger(__name__)

MAX_STAY_NIGHTS = 30
MAX_AVAILABILITY_DAYS = 90


class IsStaffOrReadOnly(permissions.BasePermission):
    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or bool(request.user and request.user.is_staff)


class GuestSerializer(serializers.ModelSerializer):
    class Meta:
        model = Guest
        fields = ["id", "full_name", "passport_no"]
        extra_kwargs = {"passport_no": {"write_only": True}}


class BookingSerializer(serializers.ModelSerializer):
    guests = GuestSerializer(many=True)
    hotel_name = serializers.CharField(source="room_type.hotel.name", read_only=True)

    class Meta:
        model = Booking
        fields = ["id", "room_type", "check_in", "check_out", "contact_email", "guests", "hotel_name",
                  "status", "total_price", "channel_ref", "created_at"]
        read_only_fields = ["status", "total_price", "channel_ref", "created_at"]

    def validate(self, attrs):
        check_in, check_out = attrs["check_in"], attrs["check_out"]
        if check_in < date.today():
            raise serializers.ValidationError({"check_in": "must not be in the past"})
        nights = (check_out - check_in).days
        if not 1 <= nights <= MAX_STAY_NIGHTS:
            raise serializers.ValidationError({"check_out": f"stay must be 1-{MAX_STAY_NIGHTS} nights"})
        guests = attrs.get("guests") or []
        if not 1 <= len(guests) <= attrs["room_type"].capacity:
            raise serializers.ValidationError({"guests": f"1-{attrs['room_type'].capacity} guests allowed"})
        return attrs

    def create(self, validated_data):
        guests = validated_data.pop("guests")
        with transaction.atomic():
            room_type = validated_data["room_type"]
            reserve_inventory(room_type, validated_data["check_in"], validated_data["check_out"])
            booking = Booking.objects.create(
                **validated_data,
                total_price=room_type.base_rate * (validated_data["check_out"] - validated_data["check_in"]).days,
            )
            Guest.objects.bulk_create([Guest(booking=booking, **g) for g in guests])
            transaction.on_commit(lambda: confirm_booking.delay(booking.id))
        return booking


class HotelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Hotel
        fields = ["id", "name", "city", "channel_hotel_code"]


class RoomTypeSerializer(serializers.ModelSerializer):
    base_rate = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=1, max_value=100000)

    class Meta:
        model = RoomType
        fields = ["id", "hotel", "name", "base_rate", "capacity"]


class AvailabilityQuery(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()

    def validate(self, attrs):
        days = (attrs["end"] - attrs["start"]).days
        if not 1 <= days <= MAX_AVAILABILITY_DAYS:
            raise serializers.ValidationError(f"range must be 1-{MAX_AVAILABILITY_DAYS} days")
        return attrs


class HotelViewSet(viewsets.ModelViewSet):
    queryset = Hotel.objects.order_by("id")
    serializer_class = HotelSerializer
    permission_classes = [permissions.IsAuthenticated, IsStaffOrReadOnly]


class RoomTypeViewSet(viewsets.ModelViewSet):
    queryset = RoomType.objects.select_related("hotel").order_by("id")
    serializer_class = RoomTypeSerializer
    permission_classes = [permissions.IsAuthenticated, IsStaffOrReadOnly]

    @action(detail=True, methods=["get"])
    def availability(self, request, pk=None):
        query = AvailabilityQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = Inventory.objects.filter(
            room_type_id=pk, date__gte=query.validated_data["start"], date__lt=query.validated_data["end"]
        ).order_by("date").values("date", "available")
        return Response([{"date": r["date"].isoformat(), "available": r["available"]} for r in rows])


class BookingViewSet(viewsets.ModelViewSet):
    serializer_class = BookingSerializer
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        qs = (
            Booking.objects.filter(user=self.request.user)
            .select_related("room_type__hotel")
            .prefetch_related("guests")
            .order_by("-created_at")
        )
        email = self.request.query_params.get("email")
        if email:
            qs = qs.filter(contact_email__iexact=email[:254])
        return qs

    def create(self, request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key", "")[:64] or None
        if key:
            existing = self.get_queryset().filter(idempotency_key=key).first()
            if existing:
                return Response(self.get_serializer(existing).data, status=status.HTTP_200_OK)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            booking = serializer.save(user=request.user, idempotency_key=key)
        except SoldOut as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except IntegrityError:
            existing = self.get_queryset().filter(idempotency_key=key).first()
            if existing is None:
                raise
            return Response(self.get_serializer(existing).data, status=status.HTTP_200_OK)
        logger.info("booking created", extra={"booking_id": booking.id, "room_type_id": booking.room_type_id})
        return Response(self.get_serializer(booking).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        with transaction.atomic():
            booking = self.get_queryset().select_for_update(of=("self",)).get(pk=self.get_object().pk)
            if booking.status in ("pending", "confirmed"):
                booking.status = "cancelled"
                booking.save(update_fields=["status"])
                release_inventory(booking.room_type, booking.check_in, booking.check_out)
                logger.info("booking cancelled", extra={"booking_id": booking.id})
        return Response({"status": booking.status})


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


router = DefaultRouter()
router.register("hotels", HotelViewSet)
router.register("room-types", RoomTypeViewSet)
router.register("bookings", BookingViewSet, basename="booking")

urlpatterns = [
    path("healthz", healthz),
    path("readyz", readyz),
    path("api/", include(router.urls)),
]
