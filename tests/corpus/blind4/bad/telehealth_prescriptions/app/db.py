import os

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

DATABASE_URL = os.environ.get(
    "DATABASE_URL", "postgresql+asyncpg://telehealth:telehealth123@db.internal:5432/telehealth"
)

engine = create_async_engine(DATABASE_URL)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class Patient(Base):
    __tablename__ = "patients"
    id = Column(Integer, primary_key=True)
    full_name = Column(String(200))
    date_of_birth = Column(String(20))
    ssn = Column(String(20))
    email = Column(String(200))


class Prescription(Base):
    __tablename__ = "prescriptions"
    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patients.id"))
    doctor_id = Column(Integer)
    drug_name = Column(String(200))
    dosage = Column(String(100))
    quantity = Column(Integer)
    refills_remaining = Column(Integer, default=0)
    status = Column(String(30), default="draft")
    pharmacy_order_id = Column(String(100))
    notes = Column(Text)
    created_at = Column(DateTime, server_default=func.now())


class AuditLog(Base):
    __tablename__ = "audit_log"
    id = Column(Integer, primary_key=True)
    prescription_id = Column(Integer)
    action = Column(String(50))
    created_at = Column(DateTime, server_default=func.now())


async def get_session() -> AsyncSession:
    async with SessionLocal() as session:
        yield session


def search_clause(drug: str, status: str) -> str:
    clause = "1=1"
    if drug:
        clause += f" AND drug_name ILIKE '%{drug}%'"
    if status:
        clause += f" AND status = '{status}'"
    return clause
