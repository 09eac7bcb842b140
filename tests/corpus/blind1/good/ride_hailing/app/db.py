from datetime import datetime, timezone
from decimal import Decimal

from pydantic import Field, HttpUrl, PostgresDsn, RedisDsn, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import DateTime, Float, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Settings(BaseSettings):
    """All configuration comes from the environment and is validated at startup."""

    model_config = SettingsConfigDict(env_prefix="RIDES_", case_sensitive=False)

    database_url: PostgresDsn
    redis_url: RedisDsn
    pricing_url: HttpUrl
    push_url: HttpUrl
    payments_url: HttpUrl
    payments_key: SecretStr
    admin_token: SecretStr
    driver_token_secret: SecretStr
    http_timeout_s: float = Field(default=3.0, gt=0, le=30)
    http_max_attempts: int = Field(default=3, ge=1, le=5)
    db_pool_size: int = Field(default=10, ge=1, le=100)
    driver_location_ttl_s: int = Field(default=60, ge=5, le=600)


settings = Settings()

engine = create_async_engine(
    str(settings.database_url),
    pool_size=settings.db_pool_size,
    max_overflow=5,
    pool_pre_ping=True,
    pool_timeout=5,
)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Rider(Base):
    __tablename__ = "riders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(255))
    payment_token: Mapped[str] = mapped_column(String(255))
    rating: Mapped[float] = mapped_column(Float, default=5.0)


class Driver(Base):
    __tablename__ = "drivers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(32))
    license_plate: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="offline")
    balance: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    completed_rides: Mapped[int] = mapped_column(Integer, default=0)


class Ride(Base):
    __tablename__ = "rides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rider_id: Mapped[int] = mapped_column(ForeignKey("riders.id"), index=True)
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"), nullable=True, index=True)
    pickup_lat: Mapped[float] = mapped_column(Float)
    pickup_lng: Mapped[float] = mapped_column(Float)
    dropoff_lat: Mapped[float] = mapped_column(Float)
    dropoff_lng: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    fare: Mapped[Decimal | None] = mapped_column(Numeric(10, 2), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    rider: Mapped[Rider] = relationship()
    driver: Mapped[Driver | None] = relationship()


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("ride_id", name="uq_payments_ride"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ride_id: Mapped[int] = mapped_column(ForeignKey("rides.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    provider_ref: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16))


async def get_session():
    async with SessionLocal() as session:
        yield session
