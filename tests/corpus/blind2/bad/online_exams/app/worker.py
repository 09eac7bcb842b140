import logging
from datetime import datetime

import boto3
import requests
from celery import Celery

from .models import Exam, ExamSession, ProctorEvent, Question, SessionLocal

logger = logging.getLogger("exams.worker")

celery_app = Celery("exams", broker="redis://redis:6379/0", backend="redis://redis:6379/1")
celery_app.conf.task_serializer = "pickle"
celery_app.conf.result_serializer = "pickle"
celery_app.conf.accept_content = ["pickle", "json"]

LMS_GRADES_URL = "http://lms.internal:8080/api/grades"
SNAPSHOT_BUCKET = "exam-proctoring-snapshots"
s3 = boto3.client("s3")


def is_late(answer, deadline):
    return datetime.fromisoformat(answer["at"]) > deadline


@celery_app.task(bind=True, autoretry_for=(Exception,), max_retries=None, acks_late=True)
def grade_session(self, session_id):
    db = SessionLocal()
    try:
        session = db.get(ExamSession, session_id)
        questions = db.query(Question).filter(Question.exam_id == session.exam_id).all()
        score = 0.0
        for q in questions:
            answer = (session.answers or {}).get(str(q.id))
            if answer is None or is_late(answer, session.deadline):
                continue
            if answer["option"] == q.correct_option:
                score += q.points
        session.score = score
        session.status = "graded"
        db.commit()

        exam = db.get(Exam, session.exam_id)
        exam.attempts = exam.attempts + 1
        exam.total_score = exam.total_score + score
        db.commit()

        try:
            requests.post(LMS_GRADES_URL, json={"user_id": session.user_id, "exam_id": exam.id, "score": score})
        except Exception:
            pass
    finally:
        db.close()


@celery_app.task
def fetch_snapshot(event_id, url):
    db = SessionLocal()
    try:
        resp = requests.get(url, timeout=10)
        resp.raise_for_status()
        key = f"snapshots/{event_id}.jpg"
        s3.put_object(Bucket=SNAPSHOT_BUCKET, Key=key, Body=resp.content, ContentType="image/jpeg")
        event = db.get(ProctorEvent, event_id)
        event.snapshot_path = key
        db.commit()
    except Exception:
        logger.exception("snapshot fetch failed event_id=%s", event_id)
    finally:
        db.close()
