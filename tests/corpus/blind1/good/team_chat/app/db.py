"""SQLAlchemy 2.0 models and repository functions for team chat."""
import logging
from datetime import datetime, timezone

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, create_engine, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import (DeclarativeBase, Mapped, Session, mapped_column, relationship,
                            sessionmaker)

logger = logging.getLogger("team_chat.db")


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    email: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)


class ChannelMember(Base):
    __tablename__ = "channel_members"
    channel: Mapped[str] = mapped_column(String(100), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(100), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    attachment_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reactions: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=lambda: datetime.now(timezone.utc))
    author: Mapped[User] = relationship(lazy="joined")


class PersistenceError(RuntimeError):
    pass


def make_sessionmaker(database_url: str) -> sessionmaker[Session]:
    engine = create_engine(database_url, pool_size=10, max_overflow=5, pool_pre_ping=True,
                           pool_recycle=1800, connect_args={"connect_timeout": 5})
    return sessionmaker(bind=engine, expire_on_commit=False)


def message_to_public(msg: Message) -> dict:
    return {
        "id": msg.id,
        "channel": msg.channel,
        "body": msg.body,
        "attachment_key": msg.attachment_key,
        "reactions": msg.reactions,
        "created_at": msg.created_at.isoformat(),
        "author": {"id": msg.author.id, "username": msg.author.username},
    }


def is_member(factory: sessionmaker[Session], channel: str, user_id: int) -> bool:
    with factory() as db:
        return db.get(ChannelMember, (channel, user_id)) is not None


def save_message(factory: sessionmaker[Session], channel: str, user_id: int, body: str,
                 attachment_key: str | None) -> dict:
    with factory() as db:
        try:
            msg = Message(channel=channel, user_id=user_id, body=body, attachment_key=attachment_key)
            db.add(msg)
            db.commit()
        except SQLAlchemyError as exc:
            db.rollback()
            logger.exception("failed to persist message", extra={"channel": channel})
            raise PersistenceError("message not saved") from exc
        db.refresh(msg, attribute_names=["author"])
        return message_to_public(msg)


def channel_history(factory: sessionmaker[Session], channel: str, limit: int,
                    before_id: int | None) -> list[dict]:
    stmt = select(Message).where(Message.channel == channel)
    if before_id is not None:
        stmt = stmt.where(Message.id < before_id)
    stmt = stmt.order_by(Message.id.desc()).limit(limit)
    with factory() as db:
        rows = db.scalars(stmt).unique().all()
        return [message_to_public(m) for m in reversed(rows)]


def ping(factory: sessionmaker[Session]) -> None:
    with factory() as db:
        db.execute(text("SELECT 1"))
