import os
from collections.abc import Iterator

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint, create_engine, func
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


def _require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"missing required environment variable {name}")
    return value


engine = create_engine(
    _require_env("DATABASE_URL"), pool_size=10, max_overflow=5, pool_pre_ping=True, pool_recycle=1800
)
SessionLocal = sessionmaker(bind=engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class Show(Base):
    __tablename__ = "shows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    owner_token_hash: Mapped[str] = mapped_column(String(128))
    episode_count: Mapped[int] = mapped_column(Integer, default=0)


class Episode(Base):
    __tablename__ = "episodes"
    __table_args__ = (UniqueConstraint("s3_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    s3_key: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="uploaded")
    duration_seconds: Mapped[int] = mapped_column(Integer, default=0)
    play_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at = mapped_column(DateTime, server_default=func.now())


def get_session() -> Iterator[Session]:
    """FastAPI dependency: one session per request, always closed."""
    with SessionLocal() as session:
        yield session
