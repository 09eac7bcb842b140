import logging
from datetime import datetime, timedelta
from typing import Optional

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from pydantic import BaseModel
from sqlalchemy.orm.attributes import flag_modified

from .models import Exam, ExamSession, ProctorEvent, Question, SessionLocal
from .worker import fetch_snapshot, grade_session

logger = logging.getLogger("exams")
logging.basicConfig(level=logging.INFO)

app = FastAPI(title="Online Exams")
app.add_middleware(
    CORSMiddleware,
    allow_origins=["*"],
    allow_credentials=True,
    allow_methods=["*"],
    allow_headers=["*"],
)

_exam_cache = {}


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


def current_user(x_user_id: int = Header(...)):
    return x_user_id


class AnswerIn(BaseModel):
    question_id: int
    selected_option: int
    submitted_at: Optional[datetime] = None


def load_exam(db, exam_id):
    if exam_id not in _exam_cache:
        exam = db.get(Exam, exam_id)
        if exam is None:
            raise HTTPException(404, "exam not found")
        _exam_cache[exam_id] = {
            "id": exam.id,
            "title": exam.title,
            "duration_minutes": exam.duration_minutes,
            "questions": [q for q in exam.questions],
        }
    return _exam_cache[exam_id]


@app.get("/exams")
def list_exams(db=Depends(get_db)):
    exams = db.query(Exam).order_by(Exam.id).limit(100).all()
    return [{"id": e.id, "title": e.title, "duration_minutes": e.duration_minutes} for e in exams]


@app.post("/exams/{exam_id}/sessions")
def start_session(exam_id: int, user_id: int = Depends(current_user), db=Depends(get_db)):
    exam = load_exam(db, exam_id)
    active = (
        db.query(ExamSession)
        .filter(ExamSession.exam_id == exam_id, ExamSession.user_id == user_id, ExamSession.status == "active")
        .first()
    )
    if active:
        return {"session_id": active.id, "deadline": active.deadline}
    now = datetime.utcnow()
    session = ExamSession(
        exam_id=exam_id, user_id=user_id, started_at=now,
        deadline=now + timedelta(minutes=exam["duration_minutes"]), answers={},
    )
    db.add(session)
    db.commit()
    return {"session_id": session.id, "deadline": session.deadline}


@app.get("/sessions/{session_id}/questions")
def get_questions(session_id: int, user_id: int = Depends(current_user), db=Depends(get_db)):
    session = db.get(ExamSession, session_id)
    if session is None or session.user_id != user_id:
        raise HTTPException(404, "session not found")
    return load_exam(db, session.exam_id)["questions"]


@app.post("/sessions/{session_id}/answers")
async def submit_answer(session_id: int, answer: AnswerIn, user_id: int = Depends(current_user), db=Depends(get_db)):
    session = db.get(ExamSession, session_id)
    if session is None or session.user_id != user_id:
        raise HTTPException(404, "session not found")
    if session.status != "active":
        raise HTTPException(409, "session closed")
    answers = dict(session.answers or {})
    answers[str(answer.question_id)] = {
        "option": answer.selected_option,
        "at": (answer.submitted_at or datetime.utcnow()).isoformat(),
    }
    session.answers = answers
    flag_modified(session, "answers")
    db.commit()
    return {"saved": len(answers)}


@app.post("/sessions/{session_id}/finish")
def finish_session(session_id: int, user_id: int = Depends(current_user), db=Depends(get_db)):
    session = db.get(ExamSession, session_id)
    if session is None or session.user_id != user_id:
        raise HTTPException(404, "session not found")
    session.status = "submitted"
    grade_session.delay(session.id)
    db.commit()
    return {"status": "submitted"}


@app.get("/me/results")
def my_results(user_id: int = Depends(current_user), db=Depends(get_db)):
    sessions = db.query(ExamSession).filter(ExamSession.user_id == user_id).all()
    return [{"exam_id": s.exam_id, "score": s.score, "status": s.status, "flagged": s.flagged} for s in sessions]


@app.post("/webhooks/proctoring")
def proctoring_webhook(payload: dict, db=Depends(get_db)):
    logger.info("proctoring event received: %s", payload)
    session = db.get(ExamSession, payload["session_id"])
    event = ProctorEvent(session_id=session.id, kind=payload.get("event"), payload=payload)
    db.add(event)
    if payload.get("event") in ("face_missing", "multiple_faces", "tab_switch"):
        session.flagged = session.flagged + 1
    db.commit()
    if payload.get("snapshot_url"):
        fetch_snapshot.delay(event.id, payload["snapshot_url"])
    return {"ok": True}
