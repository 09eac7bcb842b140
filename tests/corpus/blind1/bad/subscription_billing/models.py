import os
from datetime import datetime

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, create_engine
from sqlalchemy.orm import declarative_base, relationship, scoped_session, sessionmaker

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://billing:billing123@db.billing.internal:5432/billing")

engine = create_engine(DATABASE_URL)
db_session = scoped_session(sessionmaker(bind=engine, autoflush=False))

Base = declarative_base()
Base.query = db_session.query_property()


class Customer(Base):
    __tablename__ = "customers"

    id = Column(Integer, primary_key=True)
    email = Column(String(255), nullable=False)
    name = Column(String(120))
    stripe_customer_id = Column(String(64), unique=True)
    credits = Column(Integer, default=0)
    created_at = Column(DateTime, default=datetime.utcnow)

    subscriptions = relationship("Subscription", back_populates="customer")


class Plan(Base):
    __tablename__ = "plans"

    id = Column(Integer, primary_key=True)
    name = Column(String(64), nullable=False)
    amount_cents = Column(Integer, nullable=False)
    interval_days = Column(Integer, default=30)
    credits_per_period = Column(Integer, default=0)
    active = Column(Boolean, default=True)


class Subscription(Base):
    __tablename__ = "subscriptions"

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False)
    plan_id = Column(Integer, ForeignKey("plans.id"), nullable=False)
    status = Column(String(16), default="active")
    current_period_end = Column(DateTime)
    failed_attempts = Column(Integer, default=0)
    default_payment_method = Column(String(64))

    customer = relationship("Customer", back_populates="subscriptions")
    plan = relationship("Plan")


class Coupon(Base):
    __tablename__ = "coupons"

    id = Column(Integer, primary_key=True)
    code = Column(String(32), unique=True, nullable=False)
    percent_off = Column(Integer, nullable=False)
    max_redemptions = Column(Integer, default=100)
    times_redeemed = Column(Integer, default=0)


class Invoice(Base):
    __tablename__ = "invoices"

    id = Column(Integer, primary_key=True)
    subscription_id = Column(Integer, ForeignKey("subscriptions.id"), nullable=False)
    stripe_payment_intent_id = Column(String(64))
    amount_cents = Column(Integer, nullable=False)
    status = Column(String(16))
    created_at = Column(DateTime, default=datetime.utcnow)

    subscription = relationship("Subscription")


def init_db():
    Base.metadata.create_all(engine)
