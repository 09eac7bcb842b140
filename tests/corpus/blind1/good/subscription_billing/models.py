import os
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import (
    Boolean, CheckConstraint, Column, DateTime, ForeignKey, Integer, String, UniqueConstraint, create_engine,
)
from sqlalchemy.orm import declarative_base, relationship, scoped_session, sessionmaker


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    stripe_api_key: str
    stripe_webhook_secret: str
    mailer_url: str
    admin_token: str
    customer_token_secret: str

    @classmethod
    def from_env(cls) -> "Settings":
        names = {
            "database_url": "DATABASE_URL",
            "redis_url": "REDIS_URL",
            "stripe_api_key": "STRIPE_API_KEY",
            "stripe_webhook_secret": "STRIPE_WEBHOOK_SECRET",
            "mailer_url": "MAILER_URL",
            "admin_token": "BILLING_ADMIN_TOKEN",
            "customer_token_secret": "CUSTOMER_TOKEN_SECRET",
        }
        values = {field: os.environ.get(env, "") for field, env in names.items()}
        missing = [names[f] for f, v in values.items() if not v]
        if missing:
            raise RuntimeError(f"missing required configuration: {', '.join(sorted(missing))}")
        if not values["stripe_api_key"].startswith(("sk_", "rk_")):
            raise RuntimeError("STRIPE_API_KEY does not look like a Stripe secret key")
        if not values["mailer_url"].startswith("https://"):
            raise RuntimeError("MAILER_URL must use https")
        return cls(**values)


settings = Settings.from_env()

engine = create_engine(settings.database_url, pool_pre_ping=True, pool_size=10, max_overflow=5, pool_timeout=5,
                       connect_args={"connect_timeout": 5, "options": "-c statement_timeout=5000"})
db_session = scoped_session(sessionmaker(bind=engine, autoflush=False))

Base = declarative_base()
Base.query = db_session.query_property()


class Customer(Base):
    __tablename__ = "customers"

    id = Column(Integer, primary_key=True)
    email = Column(String(255), nullable=False)
    name = Column(String(120))
    stripe_customer_id = Column(String(64), unique=True)
    credits = Column(Integer, nullable=False, default=0)
    created_at = Column(DateTime(timezone=True), default=utcnow)

    subscriptions = relationship("Subscription", back_populates="customer")


class Plan(Base):
    __tablename__ = "plans"

    id = Column(Integer, primary_key=True)
    name = Column(String(64), nullable=False)
    amount_cents = Column(Integer, nullable=False)
    interval_days = Column(Integer, nullable=False, default=30)
    credits_per_period = Column(Integer, nullable=False, default=0)
    active = Column(Boolean, nullable=False, default=True)


class Subscription(Base):
    __tablename__ = "subscriptions"

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False, index=True)
    plan_id = Column(Integer, ForeignKey("plans.id"), nullable=False)
    status = Column(String(16), nullable=False, default="incomplete")
    current_period_end = Column(DateTime(timezone=True))
    failed_attempts = Column(Integer, nullable=False, default=0)
    default_payment_method = Column(String(64))
    renewal_enqueued_at = Column(DateTime(timezone=True))

    customer = relationship("Customer", back_populates="subscriptions")
    plan = relationship("Plan")


class Coupon(Base):
    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint("times_redeemed <= max_redemptions", name="coupon_not_over_redeemed"),
        CheckConstraint("percent_off BETWEEN 1 AND 100", name="coupon_percent_range"),
    )

    id = Column(Integer, primary_key=True)
    code = Column(String(32), unique=True, nullable=False)
    percent_off = Column(Integer, nullable=False)
    max_redemptions = Column(Integer, nullable=False, default=100)
    times_redeemed = Column(Integer, nullable=False, default=0)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("idempotency_key", name="uq_invoice_idempotency_key"),)

    id = Column(Integer, primary_key=True)
    subscription_id = Column(Integer, ForeignKey("subscriptions.id"), nullable=False, index=True)
    idempotency_key = Column(String(128), nullable=False)
    stripe_payment_intent_id = Column(String(64), unique=True)
    amount_cents = Column(Integer, nullable=False)
    status = Column(String(16), nullable=False, default="pending")
    credits_granted = Column(Boolean, nullable=False, default=False)
    dunning_notified = Column(Boolean, nullable=False, default=False)
    created_at = Column(DateTime(timezone=True), default=utcnow, index=True)

    subscription = relationship("Subscription")


class ProcessedEvent(Base):
    """Stripe event ids already handled: webhooks are delivered at least once."""

    __tablename__ = "processed_stripe_events"

    event_id = Column(String(255), primary_key=True)
    processed_at = Column(DateTime(timezone=True), default=utcnow)
