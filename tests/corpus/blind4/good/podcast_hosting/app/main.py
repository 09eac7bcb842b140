import hashlib
import hmac
import logging
import uuid
from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, Header, HTTPException, Query, UploadFile
from fastapi.middleware.cors import CORSMiddleware
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, HttpUrl
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from app.db import Episode, Show, get_session
from app.jobs import BUCKET, enqueue_import, enqueue_transcode, is_allowed_source, redis_conn, s3

logging.basicConfig(level=logging.INFO, format='{"ts":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}')
logger = logging.getLogger("podcast")

MAX_UPLOAD_BYTES = 500 * 1024 * 1024
ALLOWED_AUDIO = {"audio/mpeg": "mp3", "audio/mp4": "m4a", "audio/ogg": "ogg"}

app = FastAPI(title="Podcast Hosting")
app.add_middleware(
    CORSMiddleware,
    allow_origins=["https://studio.example.com"],
    allow_credentials=True,
    allow_methods=["GET", "POST", "DELETE"],
    allow_headers=["X-Show-Token", "Content-Type"],
)
DB = Annotated[Session, Depends(get_session)]


class ImportRequest(BaseModel):
    url: HttpUrl
    title: str = Field(min_length=1, max_length=300)


class EpisodeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    title: str
    status: str
    duration_seconds: int
    play_count: int


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.get("/readyz")
def readyz(session: DB):
    try:
        session.execute(text("SELECT 1"))
        redis_conn.ping()
    except Exception:
        logger.exception("readiness check failed")
        raise HTTPException(status_code=503, detail="not ready")
    return {"status": "ready"}


def require_owner(session: Session, show_id: int, token: str) -> Show:
    show = session.get(Show, show_id)
    if show is None:
        raise HTTPException(status_code=404, detail="show not found")
    digest = hashlib.sha256(token.encode()).hexdigest()
    if not hmac.compare_digest(show.owner_token_hash, digest):
        raise HTTPException(status_code=403, detail="forbidden")
    return show


@app.post("/shows/{show_id}/episodes", status_code=201)
async def upload_episode(
    show_id: int,
    session: DB,
    title: str = Form(..., min_length=1, max_length=300),
    audio: UploadFile = File(...),
    x_show_token: str = Header(...),
):
    await run_in_threadpool(require_owner, session, show_id, x_show_token)
    fmt = ALLOWED_AUDIO.get(audio.content_type or "")
    if fmt is None:
        raise HTTPException(status_code=415, detail="unsupported audio type")
    if audio.size is not None and audio.size > MAX_UPLOAD_BYTES:
        raise HTTPException(status_code=413, detail="file too large")
    key = f"shows/{show_id}/{uuid.uuid4()}.{fmt}"
    # Streams the spooled file in parts from a worker thread; the event loop stays free.
    await run_in_threadpool(
        s3.upload_fileobj, audio.file, BUCKET, key, ExtraArgs={"ContentType": audio.content_type}
    )

    def _record() -> int:
        episode = Episode(show_id=show_id, title=title, s3_key=key)
        session.add(episode)
        session.execute(
            update(Show).where(Show.id == show_id).values(episode_count=Show.episode_count + 1)
        )
        session.commit()  # episode row and counter in one transaction
        return episode.id

    episode_id = await run_in_threadpool(_record)
    await run_in_threadpool(enqueue_transcode, episode_id, fmt)
    logger.info("episode uploaded show=%s episode=%s", show_id, episode_id)
    return {"id": episode_id}


@app.post("/shows/{show_id}/import", status_code=202)
def import_episode(show_id: int, body: ImportRequest, session: DB, x_show_token: str = Header(...)):
    require_owner(session, show_id, x_show_token)
    if not is_allowed_source(str(body.url)):
        raise HTTPException(status_code=422, detail="url host is not an allowed feed host")
    job_id = enqueue_import(show_id, str(body.url), body.title)
    return {"status": "queued", "job_id": job_id}


@app.get("/episodes/{episode_id}/play")
def play_episode(episode_id: int, session: DB):
    key = session.execute(
        update(Episode).where(Episode.id == episode_id)
        .values(play_count=Episode.play_count + 1).returning(Episode.s3_key)
    ).scalar_one_or_none()
    session.commit()
    if key is None:
        raise HTTPException(status_code=404, detail="episode not found")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600)
    return {"url": url}


@app.get("/shows/{show_id}/episodes", response_model=list[EpisodeOut])
def list_episodes(
    show_id: int, session: DB,
    limit: int = Query(50, ge=1, le=200), after_id: int = Query(0, ge=0),
):
    stmt = (
        select(Episode).where(Episode.show_id == show_id, Episode.id > after_id)
        .order_by(Episode.id).limit(limit)
    )
    return session.scalars(stmt).all()


@app.delete("/shows/{show_id}/episodes/{episode_id}", status_code=204)
def delete_episode(show_id: int, episode_id: int, session: DB, x_show_token: str = Header(...)):
    require_owner(session, show_id, x_show_token)
    episode = session.get(Episode, episode_id)
    if episode is None or episode.show_id != show_id:
        raise HTTPException(status_code=404, detail="episode not found")
    key = episode.s3_key
    s3.delete_object(Bucket=BUCKET, Key=key)  # raises on failure; DB row kept so delete can be retried
    session.delete(episode)
    session.execute(
        update(Show).where(Show.id == show_id).values(episode_count=Show.episode_count - 1)
    )
    session.commit()
    logger.info("episode deleted show=%s episode=%s", show_id, episode_id)
