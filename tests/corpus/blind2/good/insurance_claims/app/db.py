from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, Sequence, String, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

claim_number_seq = Sequence("claim_number_seq")


class Base(DeclarativeBase):
    pass


class Claim(Base):
    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_number: Mapped[str] = mapped_column(String(20), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    policy_number: Mapped[str] = mapped_column(String(40), index=True)
    claimant_name: Mapped[str] = mapped_column(String(200))
    claimant_email: Mapped[str] = mapped_column(String(200))
    incident_date: Mapped[date]
    description: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    status: Mapped[str] = mapped_column(String(20), default="submitted", index=True)
    payout_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)

    documents: Mapped[list["Document"]] = relationship(lazy="raise", order_by="Document.id")


class Document(Base):
    __tablename__ = "claim_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int]


class Payout(Base):
    __tablename__ = "payouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), unique=True)
    assessment_id: Mapped[str] = mapped_column(String(64), unique=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


def make_sessionmaker(database_url: str) -> async_sessionmaker:
    engine = create_async_engine(
        database_url, pool_size=10, max_overflow=5, pool_timeout=5, pool_pre_ping=True,
        connect_args={"timeout": 5, "server_settings": {"statement_timeout": "5000"}},
    )
    return async_sessionmaker(engine, expire_on_commit=False)


async def next_claim_number(session: AsyncSession) -> str:
    value = await session.scalar(select(claim_number_seq.next_value()))
    return f"CLM-{value:06d}"


def claim_to_dict(claim: Claim, documents: list[Document]) -> dict:
    return {
        "id": claim.id,
        "claim_number": claim.claim_number,
        "policy_number": claim.policy_number,
        "status": claim.status,
        "amount": str(claim.amount),
        "payout_amount": str(claim.payout_amount) if claim.payout_amount is not None else None,
        "documents": [{"id": d.id, "filename": d.filename} for d in documents],
    }
