import os
from collections.abc import AsyncIterator

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def _require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"required environment variable {name} is not set")
    return value


DATABASE_URL = _require_env("DATABASE_URL")

engine = create_async_engine(
    DATABASE_URL,
    pool_size=int(os.environ.get("DB_POOL_SIZE", "10")),
    max_overflow=5,
    pool_timeout=5,
    pool_pre_ping=True,
    connect_args={"command_timeout": 10},
)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class Patient(Base):
    __tablename__ = "patients"
    id: Mapped[int] = mapped_column(primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[str] = mapped_column(String(20))
    ssn: Mapped[str] = mapped_column(String(20))
    email: Mapped[str] = mapped_column(String(200))


class Prescription(Base):
    __tablename__ = "prescriptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    doctor_id: Mapped[int] = mapped_column(Integer)
    drug_name: Mapped[str] = mapped_column(String(200), index=True)
    dosage: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer)
    refills_remaining: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(30), default="draft")
    pharmacy_order_id: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at = mapped_column(DateTime, server_default=func.now())


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    prescription_id: Mapped[int] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(50))
    created_at = mapped_column(DateTime, server_default=func.now())


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


def search_query(drug: str | None, status: str | None, limit: int, offset: int):
    stmt = select(Prescription).order_by(Prescription.id)
    if drug:
        escaped = drug.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Prescription.drug_name.ilike(f"%{escaped}%", escape="\\"))
    if status:
        stmt = stmt.where(Prescription.status == status)
    return stmt.limit(limit).offset(offset)
