import logging
import os
import subprocess
import tempfile
import uuid
from pathlib import Path

from urllib.parse import urlsplit

import boto3
import requests
from botocore.config import Config
from redis import Redis
from rq import Queue, Retry
from sqlalchemy import update

from app.db import Episode, SessionLocal, Show, _require_env

logger = logging.getLogger(__name__)

BUCKET = _require_env("MEDIA_BUCKET")
ALLOWED_FORMATS = {"mp3", "m4a", "ogg"}
# Credentials come from the IAM role / standard AWS env chain, never from code.
s3 = boto3.client(
    "s3", config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 5, "mode": "standard"})
)
ALLOWED_FEED_HOSTS = frozenset(
    h.strip().lower() for h in _require_env("ALLOWED_FEED_HOSTS").split(",") if h.strip()
)
MAX_IMPORT_BYTES = 500 * 1024 * 1024
redis_conn = Redis.from_url(_require_env("REDIS_URL"), socket_timeout=5, socket_connect_timeout=5)
queue = Queue("media", connection=redis_conn, default_timeout=1800)


def transcode_episode(episode_id: int, fmt: str) -> None:
    if fmt not in ALLOWED_FORMATS:
        raise ValueError(f"unsupported format {fmt!r}")
    with SessionLocal() as session:
        episode = session.get(Episode, episode_id)
        if episode is None:
            logger.warning("episode vanished before transcode", extra={"episode_id": episode_id})
            return
        src_key = episode.s3_key
    with tempfile.TemporaryDirectory(prefix="transcode-") as workdir:
        local_in = Path(workdir) / "input"
        local_out = Path(workdir) / f"output.{fmt}"
        s3.download_file(BUCKET, src_key, str(local_in))
        subprocess.run(
            ["ffmpeg", "-nostdin", "-y", "-i", str(local_in), "-b:a", "128k", str(local_out)],
            check=True, capture_output=True, timeout=1500,
        )
        out_key = f"{src_key.rsplit('.', 1)[0]}.transcoded.{fmt}"
        s3.upload_file(str(local_out), BUCKET, out_key)
    with SessionLocal.begin() as session:
        session.execute(update(Episode).where(Episode.id == episode_id).values(status="ready"))
    logger.info("transcode finished", extra={"episode_id": episode_id, "key": out_key})


def enqueue_transcode(episode_id: int, fmt: str = "mp3") -> None:
    queue.enqueue(
        transcode_episode, episode_id, fmt,
        job_id=f"transcode-{episode_id}-{fmt}",
        retry=Retry(max=3, interval=[30, 120, 600]),
        failure_ttl=7 * 24 * 3600,
    )


def is_allowed_source(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and (parts.hostname or "").lower() in ALLOWED_FEED_HOSTS


def import_from_feed(show_id: int, audio_url: str, title: str) -> int:
    if not is_allowed_source(audio_url):
        raise ValueError("url not allowed")
    key = f"shows/{show_id}/{uuid.uuid4()}.mp3"
    with tempfile.TemporaryFile() as buf:
        with requests.get(audio_url, stream=True, timeout=(5, 30), allow_redirects=False) as resp:
            resp.raise_for_status()
            size = 0
            for chunk in resp.iter_content(chunk_size=1 << 20):
                size += len(chunk)
                if size > MAX_IMPORT_BYTES:
                    raise ValueError("remote file too large")
                buf.write(chunk)
        buf.seek(0)
        s3.upload_fileobj(buf, BUCKET, key, ExtraArgs={"ContentType": "audio/mpeg"})
    with SessionLocal.begin() as session:
        episode = Episode(show_id=show_id, title=title, s3_key=key)
        session.add(episode)
        session.execute(
            update(Show).where(Show.id == show_id).values(episode_count=Show.episode_count + 1)
        )
        session.flush()
        episode_id = episode.id
    logger.info("episode imported", extra={"show_id": show_id, "episode_id": episode_id})
    enqueue_transcode(episode_id, "mp3")
    return episode_id


def enqueue_import(show_id: int, url: str, title: str) -> str:
    job = queue.enqueue(
        import_from_feed, show_id, url, title,
        retry=Retry(max=3, interval=[30, 120, 600]), job_timeout=900,
    )
    return job.id
