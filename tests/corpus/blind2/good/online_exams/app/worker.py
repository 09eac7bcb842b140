import logging
import uuid
from urllib.parse import urlparse

import boto3
import requests
from celery import Celery
from sqlalchemy import func, select, update

from .config import get_settings
from .models import Answer, Exam, ExamSession, ProctorEvent, Question, SessionLocal

logger = logging.getLogger("exams.worker")
settings = get_settings()

celery_app = Celery("exams", broker=settings.celery_broker_url, backend=settings.celery_result_backend)
celery_app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
)
s3 = boto3.client("s3")
MAX_SNAPSHOT_BYTES = 5 * 1024 * 1024
TRANSIENT = (requests.ConnectionError, requests.Timeout)


@celery_app.task(bind=True, autoretry_for=(ConnectionError,), retry_backoff=True, retry_backoff_max=300,
                 max_retries=5)
def grade_session(self, session_id: int):
    with SessionLocal() as db, db.begin():
        session = db.scalars(
            select(ExamSession).where(ExamSession.id == session_id).with_for_update()
        ).one_or_none()
        if session is None or session.status != "submitted":
            logger.info("grade skipped session_id=%s status=%s", session_id, getattr(session, "status", None))
            return
        # answers were timestamped by the server and rejected after the deadline at submit time
        score = db.scalar(
            select(func.coalesce(func.sum(Question.points), 0.0))
            .join(Answer, Answer.question_id == Question.id)
            .where(Answer.session_id == session_id, Answer.selected_option == Question.correct_option)
        )
        session.score = float(score)
        session.status = "graded"
        db.execute(update(Exam).where(Exam.id == session.exam_id).values(
            attempts=Exam.attempts + 1, total_score=Exam.total_score + float(score)))
        user_id, exam_id = session.user_id, session.exam_id
    logger.info("session graded session_id=%s score=%s", session_id, score)
    push_grade.delay(session_id, user_id, exam_id, float(score))


@celery_app.task(bind=True, autoretry_for=TRANSIENT, retry_backoff=True, retry_backoff_max=600, max_retries=8)
def push_grade(self, session_id: int, user_id: str, exam_id: int, score: float):
    resp = requests.post(
        str(settings.lms_grades_url),
        json={"user_id": user_id, "exam_id": exam_id, "score": score},
        headers={"Idempotency-Key": str(uuid.uuid5(uuid.NAMESPACE_URL, f"grade/{session_id}"))},
        timeout=settings.http_timeout_seconds,
    )
    if resp.status_code >= 500:
        raise self.retry(exc=requests.HTTPError(f"LMS {resp.status_code}"))
    resp.raise_for_status()
    logger.info("grade pushed session_id=%s", session_id)


def snapshot_url_allowed(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme == "https" and parsed.hostname in settings.snapshot_hosts


@celery_app.task(bind=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def fetch_snapshot(self, event_id: int, url: str):
    if not snapshot_url_allowed(url):
        logger.warning("snapshot url rejected event_id=%s host=%s", event_id, urlparse(url).hostname)
        return
    with requests.get(url, timeout=settings.http_timeout_seconds, stream=True, allow_redirects=False) as resp:
        resp.raise_for_status()
        body = resp.raw.read(MAX_SNAPSHOT_BYTES + 1, decode_content=True)
    if len(body) > MAX_SNAPSHOT_BYTES:
        logger.warning("snapshot too large event_id=%s", event_id)
        return
    key = f"snapshots/{event_id}.jpg"
    s3.put_object(Bucket=settings.snapshot_bucket, Key=key, Body=body, ContentType="image/jpeg")
    with SessionLocal() as db, db.begin():
        db.execute(update(ProctorEvent).where(ProctorEvent.id == event_id).values(snapshot_key=key))
    logger.info("snapshot stored event_id=%s", event_id)
