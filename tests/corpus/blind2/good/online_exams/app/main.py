import hashlib
import hmac
import logging
import threading
from datetime import timedelta
from typing import Literal

import jwt
from cachetools import TTLCache
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from pydantic import BaseModel, Field
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from .config import get_settings
from .models import Answer, Exam, ExamSession, ProctorEvent, Question, SessionLocal, utcnow
from .worker import fetch_snapshot, grade_session

logger = logging.getLogger("exams")
settings = get_settings()

app = FastAPI(title="Online Exams")
app.add_middleware(
    CORSMiddleware,
    allow_origins=settings.allowed_origins,
    allow_credentials=True,
    allow_methods=["GET", "POST"],
    allow_headers=["Authorization", "Content-Type"],
)

_exam_cache: TTLCache = TTLCache(maxsize=256, ttl=60)
_exam_cache_lock = threading.Lock()
GRACE = timedelta(seconds=5)


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


def current_user(authorization: str = Header(...)) -> str:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "bearer token required")
    try:
        claims = jwt.decode(token, settings.jwt_public_key, algorithms=["RS256"], audience=settings.jwt_audience)
    except jwt.PyJWTError:
        raise HTTPException(401, "invalid token")
    return claims["sub"]


class QuestionOut(BaseModel):
    id: int
    text: str
    options: list[str]


class ExamOut(BaseModel):
    id: int
    title: str
    duration_minutes: int


class AnswerIn(BaseModel):
    question_id: int = Field(gt=0)
    selected_option: int = Field(ge=0, le=20)


class ProctorEventIn(BaseModel):
    event_id: str = Field(min_length=1, max_length=64)
    session_id: int = Field(gt=0)
    event: Literal["face_missing", "multiple_faces", "tab_switch", "heartbeat", "snapshot"]
    snapshot_url: str | None = Field(default=None, max_length=2048)


def load_exam(db, exam_id: int) -> dict:
    with _exam_cache_lock:
        cached = _exam_cache.get(exam_id)
    if cached is not None:
        return cached
    exam = db.get(Exam, exam_id)
    if exam is None:
        raise HTTPException(404, "exam not found")
    questions = db.scalars(select(Question).where(Question.exam_id == exam_id).order_by(Question.id)).all()
    data = {
        "exam": ExamOut(id=exam.id, title=exam.title, duration_minutes=exam.duration_minutes),
        "questions": [QuestionOut(id=q.id, text=q.text, options=q.options) for q in questions],
        "question_ids": {q.id for q in questions},
    }
    with _exam_cache_lock:
        _exam_cache[exam_id] = data
    return data


def owned_session(db, session_id: int, user_id: str) -> ExamSession:
    session = db.get(ExamSession, session_id)
    if session is None or session.user_id != user_id:
        raise HTTPException(404, "session not found")
    return session


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.get("/readyz")
def readyz(db=Depends(get_db)):
    try:
        db.execute(text("SELECT 1"))
    except Exception:
        logger.exception("readiness check failed")
        raise HTTPException(503, "database unavailable")
    return {"status": "ready"}


@app.get("/exams", response_model=list[ExamOut])
def list_exams(limit: int = 50, offset: int = 0, db=Depends(get_db)):
    limit = min(max(limit, 1), 100)
    exams = db.scalars(select(Exam).order_by(Exam.id).limit(limit).offset(max(offset, 0))).all()
    return [ExamOut(id=e.id, title=e.title, duration_minutes=e.duration_minutes) for e in exams]


@app.post("/exams/{exam_id}/sessions")
def start_session(exam_id: int, user_id: str = Depends(current_user), db=Depends(get_db)):
    exam = load_exam(db, exam_id)["exam"]
    now = utcnow()
    session = ExamSession(exam_id=exam_id, user_id=user_id, started_at=now,
                          deadline=now + timedelta(minutes=exam.duration_minutes))
    db.add(session)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        session = db.scalars(select(ExamSession).where(
            ExamSession.exam_id == exam_id, ExamSession.user_id == user_id, ExamSession.status == "active")).one()
    return {"session_id": session.id, "deadline": session.deadline}


@app.get("/sessions/{session_id}/questions", response_model=list[QuestionOut])
def get_questions(session_id: int, user_id: str = Depends(current_user), db=Depends(get_db)):
    session = owned_session(db, session_id, user_id)
    return load_exam(db, session.exam_id)["questions"]


@app.post("/sessions/{session_id}/answers")
def submit_answer(session_id: int, answer: AnswerIn, user_id: str = Depends(current_user), db=Depends(get_db)):
    session = owned_session(db, session_id, user_id)
    now = utcnow()
    if session.status != "active" or now > session.deadline + GRACE:
        raise HTTPException(409, "session closed")
    if answer.question_id not in load_exam(db, session.exam_id)["question_ids"]:
        raise HTTPException(422, "question not part of this exam")
    stmt = pg_insert(Answer).values(session_id=session_id, question_id=answer.question_id,
                                    selected_option=answer.selected_option, answered_at=now)
    db.execute(stmt.on_conflict_do_update(
        constraint="uq_answer_per_question",
        set_={"selected_option": stmt.excluded.selected_option, "answered_at": stmt.excluded.answered_at},
    ))
    db.commit()
    return {"saved": True, "answered_at": now}


@app.post("/sessions/{session_id}/finish")
def finish_session(session_id: int, user_id: str = Depends(current_user), db=Depends(get_db)):
    owned_session(db, session_id, user_id)
    result = db.execute(
        update(ExamSession)
        .where(ExamSession.id == session_id, ExamSession.status == "active")
        .values(status="submitted")
    )
    db.commit()
    if result.rowcount:
        grade_session.delay(session_id)
        logger.info("session submitted session_id=%s", session_id)
    return {"status": "submitted"}


@app.get("/me/results")
def my_results(user_id: str = Depends(current_user), db=Depends(get_db)):
    sessions = db.scalars(
        select(ExamSession).where(ExamSession.user_id == user_id).order_by(ExamSession.id.desc()).limit(100)
    ).all()
    return [{"exam_id": s.exam_id, "score": s.score, "status": s.status, "flagged": s.flagged} for s in sessions]


@app.post("/webhooks/proctoring", status_code=202)
async def proctoring_webhook(request: Request, x_signature: str = Header(...)):
    body = await request.body()
    expected = hmac.new(settings.proctor_webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, x_signature):
        raise HTTPException(401, "bad signature")
    event = ProctorEventIn.model_validate_json(body)
    return await run_in_threadpool(record_proctor_event, event)


def record_proctor_event(event: ProctorEventIn):
    with SessionLocal() as db:
        if db.get(ExamSession, event.session_id) is None:
            raise HTTPException(404, "unknown session")
        row = ProctorEvent(external_id=event.event_id, session_id=event.session_id, kind=event.event)
        db.add(row)
        if event.event in ("face_missing", "multiple_faces", "tab_switch"):
            db.execute(update(ExamSession).where(ExamSession.id == event.session_id)
                       .values(flagged=ExamSession.flagged + 1))
        try:
            db.commit()
        except IntegrityError:
            db.rollback()
            logger.info("duplicate proctoring event ignored event_id=%s", event.event_id)
            return {"ok": True, "duplicate": True}
        logger.info("proctoring event session_id=%s kind=%s", event.session_id, event.event)
        if event.snapshot_url:
            fetch_snapshot.delay(row.id, event.snapshot_url)
    return {"ok": True}
