"""Team chat: websockets + Redis pub/sub fan-out + PostgreSQL history + S3 attachments."""
import asyncio
import contextlib
import json
import logging
import time
from typing import Annotated

import jwt
import redis.asyncio as aioredis
from fastapi import (Depends, FastAPI, File, Header, HTTPException, Path, Query, Request, UploadFile,
                     WebSocket, WebSocketDisconnect, status)
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from app import db
from app.attachments import AttachmentStore, AttachmentTooLarge, UnsupportedType
from app.config import load_settings

logging.basicConfig(level=logging.INFO,
                    format='{"ts":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}')
logger = logging.getLogger("team_chat")

settings = load_settings()
session_factory = db.make_sessionmaker(settings.database_url)
redis = aioredis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=3,
                          health_check_interval=30)
store = AttachmentStore(settings.attachments_bucket, settings.max_upload_bytes)

PRESENCE_TTL_S = 60
CHANNEL_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,99}$"
Channel = Annotated[str, Path(pattern=CHANNEL_PATTERN)]

app = FastAPI(title="Team Chat")
app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
                   allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"])


class IncomingMessage(BaseModel):
    body: str = Field(min_length=1, max_length=4000)
    attachment_key: str | None = Field(default=None, max_length=200)


def decode_token(token: str) -> int:
    try:
        claims = jwt.decode(token, settings.jwt_secret, algorithms=["HS256"],
                            options={"require": ["sub", "exp"]})
        return int(claims["sub"])
    except (jwt.PyJWTError, ValueError) as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid token") from exc


def current_user(authorization: str = Header(...)) -> int:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "bearer token required")
    return decode_token(token)


async def require_member(channel: str, user_id: int) -> None:
    if not await run_in_threadpool(db.is_member, session_factory, channel, user_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not a member of this channel")


@app.middleware("http")
async def limit_body_size(request: Request, call_next):
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > settings.max_upload_bytes + 64 * 1024):
        return JSONResponse({"detail": "request body too large"}, status_code=413)
    return await call_next(request)


async def relay(channel: str, websocket: WebSocket) -> None:
    pubsub = redis.pubsub()
    await pubsub.subscribe(f"chat:{channel}")
    try:
        async for message in pubsub.listen():
            if message["type"] == "message":
                await websocket.send_text(message["data"].decode())
    finally:
        await pubsub.unsubscribe(f"chat:{channel}")
        await pubsub.aclose()


async def mark_online(channel: str, user_id: int) -> None:
    key = f"presence:{channel}"
    await redis.zadd(key, {str(user_id): time.time()})
    await redis.expire(key, PRESENCE_TTL_S * 2)


@app.websocket("/ws/{channel}")
async def chat_socket(websocket: WebSocket, channel: Channel,
                      token: str = Query(...)):
    try:
        user_id = decode_token(token)
        await require_member(channel, user_id)
    except HTTPException:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    await websocket.accept()
    await mark_online(channel, user_id)
    relay_task = asyncio.create_task(relay(channel, websocket), name=f"relay:{channel}:{user_id}")
    try:
        while True:
            raw = await websocket.receive_text()
            try:
                incoming = IncomingMessage.model_validate_json(raw)
            except ValidationError:
                await websocket.send_json({"error": "invalid message"})
                continue
            if incoming.attachment_key and not store.belongs_to(incoming.attachment_key, channel):
                await websocket.send_json({"error": "unknown attachment"})
                continue
            try:
                saved = await run_in_threadpool(db.save_message, session_factory, channel, user_id,
                                                incoming.body, incoming.attachment_key)
            except db.PersistenceError:
                await websocket.send_json({"error": "message not saved, please retry"})
                continue
            await redis.publish(f"chat:{channel}", json.dumps(saved))
            await mark_online(channel, user_id)
    except WebSocketDisconnect:
        logger.info("socket closed channel=%s user=%s", channel, user_id)
    except Exception:
        logger.exception("socket failed channel=%s user=%s", channel, user_id)
        await websocket.close(code=status.WS_1011_INTERNAL_ERROR)
    finally:
        relay_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay_task
        await redis.zrem(f"presence:{channel}", str(user_id))


@app.get("/channels/{channel}/messages")
async def get_messages(channel: Channel, user_id: int = Depends(current_user),
                       limit: int = Query(50, ge=1, le=100), before_id: int | None = Query(None, ge=1)):
    await require_member(channel, user_id)
    return await run_in_threadpool(db.channel_history, session_factory, channel, limit, before_id)


@app.get("/channels/{channel}/online")
async def who_is_online(channel: Channel, user_id: int = Depends(current_user)):
    await require_member(channel, user_id)
    cutoff = time.time() - PRESENCE_TTL_S
    members = await redis.zrangebyscore(f"presence:{channel}", cutoff, "+inf")
    return {"users": [int(m) for m in members]}


@app.post("/channels/{channel}/attachments", status_code=201)
async def upload_attachment(channel: Channel, file: UploadFile = File(...),
                            user_id: int = Depends(current_user)):
    await require_member(channel, user_id)
    try:
        key = await run_in_threadpool(store.save, channel, file.file, file.content_type or "")
    except UnsupportedType:
        raise HTTPException(415, "unsupported attachment type")
    except AttachmentTooLarge:
        raise HTTPException(413, "attachment too large")
    logger.info("attachment stored channel=%s user=%s key=%s", channel, user_id, key)
    return {"attachment_key": key}


@app.get("/channels/{channel}/attachments/{key:path}")
async def download_attachment(channel: Channel, key: str, user_id: int = Depends(current_user)):
    await require_member(channel, user_id)
    if not store.belongs_to(key, channel):
        raise HTTPException(404, "attachment not found")
    return {"url": await run_in_threadpool(store.download_url, key)}


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}


@app.get("/readyz")
async def readyz():
    try:
        await redis.ping()
        await run_in_threadpool(db.ping, session_factory)
    except Exception:
        logger.exception("readiness check failed")
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return {"status": "ready"}


@app.on_event("shutdown")
async def shutdown() -> None:
    await redis.aclose()
