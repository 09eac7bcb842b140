from datetime import datetime, timezone
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import ForeignKey, Numeric, String, create_engine, or_, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, selectinload, sessionmaker

from .config import load_settings


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@lru_cache(maxsize=1)
def get_sessionmaker() -> sessionmaker:
    settings = load_settings()
    engine = create_engine(
        settings.database_url, pool_pre_ping=True, pool_size=10, max_overflow=5, pool_timeout=5,
        connect_args={"options": "-c statement_timeout=5000"},
    )
    return sessionmaker(bind=engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class Courier(Base):
    __tablename__ = "couriers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(32))
    lat: Mapped[float]
    lng: Mapped[float]
    available: Mapped[bool] = mapped_column(default=True, index=True)


class MenuItem(Base):
    __tablename__ = "menu_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    restaurant_id: Mapped[int] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(120))
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    active: Mapped[bool] = mapped_column(default=True)


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    restaurant_id: Mapped[int] = mapped_column(index=True)
    customer_name: Mapped[str] = mapped_column(String(120))
    customer_phone: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    total: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("0"))
    courier_id: Mapped[int | None] = mapped_column(ForeignKey("couriers.id"))
    eta_minutes: Mapped[int | None]
    payment_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    notify_url: Mapped[str | None] = mapped_column(String(500))
    dispatch_attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=_utcnow, index=True)

    items: Mapped[list["OrderItem"]] = relationship(back_populates="order", cascade="all, delete-orphan")
    courier: Mapped[Courier | None] = relationship()


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    menu_item_id: Mapped[int] = mapped_column(ForeignKey("menu_items.id"))
    name: Mapped[str] = mapped_column(String(120))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    quantity: Mapped[int]

    order: Mapped[Order] = relationship(back_populates="items")


class OrderRepository:
    """Data access for orders. The caller owns the transaction (unit of work)."""

    def __init__(self, db: Session):
        self.db = db

    def add(self, order: Order) -> Order:
        self.db.add(order)
        self.db.flush()
        return order

    def get(self, order_id: int) -> Order | None:
        stmt = select(Order).options(selectinload(Order.items), selectinload(Order.courier)).where(Order.id == order_id)
        return self.db.scalars(stmt).first()

    def get_for_update(self, order_id: int) -> Order | None:
        return self.db.scalars(select(Order).where(Order.id == order_id).with_for_update()).first()

    def menu_prices(self, restaurant_id: int, item_ids: set[int]) -> dict[int, MenuItem]:
        stmt = select(MenuItem).where(
            MenuItem.restaurant_id == restaurant_id, MenuItem.id.in_(item_ids), MenuItem.active.is_(True)
        )
        return {m.id: m for m in self.db.scalars(stmt)}

    def list_for_restaurant(self, restaurant_id: int, status: str | None, limit: int, before_id: int | None) -> list[Order]:
        stmt = (
            select(Order)
            .options(selectinload(Order.items), selectinload(Order.courier))
            .where(Order.restaurant_id == restaurant_id)
        )
        if status:
            stmt = stmt.where(Order.status == status)
        if before_id:
            stmt = stmt.where(Order.id < before_id)
        return list(self.db.scalars(stmt.order_by(Order.id.desc()).limit(limit)))

    def search(self, restaurant_id: int, term: str, limit: int = 50) -> list[Order]:
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        stmt = (
            select(Order)
            .where(Order.restaurant_id == restaurant_id)
            .where(or_(Order.customer_name.ilike(pattern, escape="\\"), Order.address.ilike(pattern, escape="\\")))
            .order_by(Order.id.desc())
            .limit(limit)
        )
        return list(self.db.scalars(stmt))

    def next_order_to_dispatch(self, max_attempts: int) -> Order | None:
        stmt = (
            select(Order)
            .where(Order.status == "paid", Order.courier_id.is_(None), Order.dispatch_attempts < max_attempts)
            .order_by(Order.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return self.db.scalars(stmt).first()


class CourierRepository:
    def __init__(self, db: Session):
        self.db = db

    def claim_available(self) -> Courier | None:
        """Lock one free courier row; concurrent dispatchers skip it instead of double-assigning."""
        stmt = (
            select(Courier).where(Courier.available.is_(True)).order_by(Courier.id).limit(1)
            .with_for_update(skip_locked=True)
        )
        courier = self.db.scalars(stmt).first()
        if courier is not None:
            courier.available = False
        return courier

    def release(self, courier_id: int) -> bool:
        result = self.db.execute(
            update(Courier).where(Courier.id == courier_id, Courier.available.is_(False)).values(available=True)
        )
        return result.rowcount == 1
