import os
from datetime import datetime

from sqlalchemy import JSON, Column, DateTime, Float, ForeignKey, Integer, String, Text, create_engine
from sqlalchemy.orm import declarative_base, relationship, sessionmaker

DATABASE_URL = os.getenv("DATABASE_URL", "postgresql://exams:Exams2024!@10.20.3.15:5432/exams")

engine = create_engine(DATABASE_URL)
SessionLocal = sessionmaker(bind=engine, autoflush=False)
Base = declarative_base()


class Exam(Base):
    __tablename__ = "exams"
    id = Column(Integer, primary_key=True)
    title = Column(String(200), nullable=False)
    duration_minutes = Column(Integer, nullable=False)
    attempts = Column(Integer, default=0)
    total_score = Column(Float, default=0.0)
    questions = relationship("Question", back_populates="exam")


class Question(Base):
    __tablename__ = "questions"
    id = Column(Integer, primary_key=True)
    exam_id = Column(Integer, ForeignKey("exams.id"), nullable=False)
    text = Column(Text, nullable=False)
    options = Column(JSON, nullable=False)
    correct_option = Column(Integer, nullable=False)
    points = Column(Float, default=1.0)
    exam = relationship("Exam", back_populates="questions")


class ExamSession(Base):
    __tablename__ = "exam_sessions"
    id = Column(Integer, primary_key=True)
    exam_id = Column(Integer, ForeignKey("exams.id"), nullable=False)
    user_id = Column(Integer, nullable=False, index=True)
    started_at = Column(DateTime, default=datetime.utcnow)
    deadline = Column(DateTime, nullable=False)
    status = Column(String(20), default="active")
    answers = Column(JSON, default=dict)
    score = Column(Float)
    flagged = Column(Integer, default=0)


class ProctorEvent(Base):
    __tablename__ = "proctor_events"
    id = Column(Integer, primary_key=True)
    session_id = Column(Integer, ForeignKey("exam_sessions.id"))
    kind = Column(String(50))
    payload = Column(JSON)
    snapshot_path = Column(String(255))
    created_at = Column(DateTime, default=datetime.utcnow)
