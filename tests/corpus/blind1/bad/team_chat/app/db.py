"""SQLAlchemy models and session for team chat."""
import os
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, DateTime, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

DATABASE_URL = os.getenv("DATABASE_URL", "postgresql://chat:chatpass@db.internal:5432/chat")

engine = create_engine(DATABASE_URL)
SessionLocal = sessionmaker(bind=engine)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    email: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(100), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    attachment: Mapped[str | None] = mapped_column(String(500), nullable=True)
    reactions: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=datetime.utcnow)


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


def row_to_dict(obj):
    return {c.name: getattr(obj, c.name) for c in obj.__table__.columns}


def save_message(db, channel, user_id, body, attachment=None):
    msg = Message(channel=channel, user_id=user_id, body=body, attachment=attachment)
    db.add(msg)
    try:
        db.commit()
    except Exception:
        pass
    return msg


def channel_history(db, channel):
    messages = db.query(Message).filter(Message.channel == channel).order_by(Message.id).all()
    result = []
    for m in messages:
        author = db.get(User, m.user_id)
        item = row_to_dict(m)
        item["author"] = row_to_dict(author)
        result.append(item)
    return result
