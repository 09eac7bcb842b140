"""Team chat: websockets + Redis pub/sub fan-out + PostgreSQL history."""
import asyncio
import json
import os

import aioredis
from fastapi import Depends, FastAPI, File, UploadFile, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse

from app import attachments
from app.db import SessionLocal, channel_history, get_db, row_to_dict, save_message

app = FastAPI(title="Team Chat")
app.add_middleware(
    CORSMiddleware,
    allow_origins=["*"],
    allow_credentials=True,
    allow_methods=["*"],
    allow_headers=["*"],
)

redis = aioredis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379"))

online_users: dict[str, set] = {}


async def relay(channel: str, websocket: WebSocket):
    pubsub = redis.pubsub()
    await pubsub.subscribe(f"chat:{channel}")
    async for message in pubsub.listen():
        if message["type"] == "message":
            await websocket.send_text(message["data"].decode())


@app.websocket("/ws/{channel}")
async def chat_socket(websocket: WebSocket, channel: str, user_id: int):
    await websocket.accept()
    online_users.setdefault(channel, set()).add(user_id)
    asyncio.create_task(relay(channel, websocket))
    db = SessionLocal()
    try:
        while True:
            text = await websocket.receive_text()
            data = json.loads(text)
            msg = save_message(db, channel, user_id, data["body"], data.get("attachment"))
            print(f"[{channel}] user {user_id}: {data['body']}")
            await redis.publish(f"chat:{channel}", json.dumps(row_to_dict(msg), default=str))
    except Exception:
        online_users[channel].discard(user_id)
    finally:
        db.close()


@app.get("/channels/{channel}/messages")
def get_messages(channel: str, db=Depends(get_db)):
    return channel_history(db, channel)


@app.get("/channels/{channel}/online")
def who_is_online(channel: str):
    return {"users": list(online_users.get(channel, set()))}


@app.post("/channels/{channel}/attachments")
async def upload_attachment(channel: str, file: UploadFile = File(...)):
    data = await file.read()
    path = attachments.save_attachment(channel, file.filename, data)
    return {"path": path, "filename": file.filename}


@app.get("/channels/{channel}/attachments/{filename}")
async def download_attachment(channel: str, filename: str):
    return FileResponse(attachments.attachment_path(channel, filename))


@app.get("/health")
def health():
    return {"status": "ok"}
