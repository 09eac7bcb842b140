import uuid

from fastapi import FastAPI, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.middleware.cors import CORSMiddleware

from app.db import Episode, Show, get_session
from app.jobs import BUCKET, enqueue_transcode, import_from_feed, queue, s3

app = FastAPI(title="Podcast Hosting")
app.add_middleware(
    CORSMiddleware,
    allow_origins=["*"],
    allow_credentials=True,
    allow_methods=["*"],
    allow_headers=["*"],
)


@app.get("/health")
def health():
    return {"status": "ok"}


def _check_owner(show, token):
    if show.owner_token != token:
        raise HTTPException(status_code=403, detail="forbidden")


@app.post("/shows/{show_id}/episodes")
async def upload_episode(
    show_id: int,
    title: str = Form(...),
    audio: UploadFile = File(...),
    x_show_token: str = Header(...),
):
    session = get_session()
    show = session.get(Show, show_id)
    _check_owner(show, x_show_token)
    body = await audio.read()
    key = f"shows/{show_id}/{audio.filename}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=audio.content_type)
    episode = Episode(show_id=show_id, title=title, s3_key=key)
    session.add(episode)
    show.episode_count += 1
    session.commit()
    enqueue_transcode(episode.id, fmt=audio.filename.rsplit(".", 1)[-1])
    return {"id": episode.id, "key": key}


@app.post("/shows/{show_id}/import")
async def import_episode(show_id: int, request: Request):
    payload = await request.json()
    queue.enqueue(import_from_feed, show_id, payload["url"], payload["title"])
    return {"status": "queued"}


@app.get("/episodes/{episode_id}/play")
def play_episode(episode_id: int):
    session = get_session()
    episode = session.get(Episode, episode_id)
    episode.play_count = episode.play_count + 1
    session.commit()
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": episode.s3_key}, ExpiresIn=604800
    )
    return {"url": url}


@app.get("/shows/{show_id}/episodes")
def list_episodes(show_id: int, limit: int = 100000):
    session = get_session()
    episodes = session.query(Episode).filter(Episode.show_id == show_id).limit(limit).all()
    return [e.__dict__ for e in episodes]


@app.delete("/episodes/{episode_id}")
def delete_episode(episode_id: int):
    session = get_session()
    episode = session.get(Episode, episode_id)
    try:
        s3.delete_object(Bucket=BUCKET, Key=episode.s3_key)
    except Exception:
        pass
    session.delete(episode)
    session.commit()
    return {"deleted": True}
