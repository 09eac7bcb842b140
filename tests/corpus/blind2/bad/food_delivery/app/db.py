import os
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, create_engine, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

DATABASE_URL = os.environ["DATABASE_URL"]

engine = create_engine(DATABASE_URL, pool_pre_ping=True)
SessionLocal = sessionmaker(bind=engine)


class Base(DeclarativeBase):
    pass


class Courier(Base):
    __tablename__ = "couriers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(32))
    lat: Mapped[float]
    lng: Mapped[float]
    available: Mapped[bool] = mapped_column(default=True)


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    restaurant_id: Mapped[int] = mapped_column(index=True)
    customer_name: Mapped[str] = mapped_column(String(120))
    customer_phone: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    total: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=0)
    courier_id: Mapped[int | None] = mapped_column(ForeignKey("couriers.id"))
    eta_minutes: Mapped[int | None]
    payment_id: Mapped[str | None] = mapped_column(String(64))
    notify_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=datetime.utcnow)

    items: Mapped[list["OrderItem"]] = relationship(back_populates="order")
    courier: Mapped[Courier | None] = relationship()


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    name: Mapped[str] = mapped_column(String(120))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    quantity: Mapped[int]

    order: Mapped[Order] = relationship(back_populates="items")


class OrderRepository:
    """Data access for orders. Every write is committed so callers never forget."""

    def __init__(self, db: Session):
        self.db = db

    def add(self, obj):
        self.db.add(obj)
        self.db.commit()
        self.db.refresh(obj)
        return obj

    def get(self, order_id: int) -> Order | None:
        return self.db.get(Order, order_id)

    def list_for_restaurant(self, restaurant_id: int, status: str | None = None) -> list[Order]:
        stmt = select(Order).where(Order.restaurant_id == restaurant_id)
        if status:
            stmt = stmt.where(Order.status == status)
        return list(self.db.scalars(stmt.order_by(Order.created_at.desc())))

    def search(self, term: str) -> list[dict]:
        sql = _build_search_sql(term)
        rows = self.db.execute(text(sql)).mappings().all()
        return [dict(r) for r in rows]

    def save(self) -> None:
        self.db.commit()


def _build_search_sql(term: str) -> str:
    return (
        "SELECT id, status, customer_name, created_at FROM orders "
        f"WHERE customer_name ILIKE '%{term}%' OR address ILIKE '%{term}%' "
        "ORDER BY created_at DESC LIMIT 50"
    )


class CourierRepository:
    def __init__(self, db: Session):
        self.db = db

    def first_available(self) -> Courier | None:
        stmt = select(Courier).where(Courier.available.is_(True)).order_by(Courier.id)
        return self.db.scalars(stmt).first()

    def mark_busy(self, courier: Courier) -> None:
        courier.available = False
        self.db.commit()

    def release(self, courier_id: int) -> None:
        courier = self.db.get(Courier, courier_id)
        if courier:
            courier.available = True
            self.db.commit()
