import asyncio
import json
import logging
import os
import weakref
from collections import OrderedDict

import redis.asyncio as redis
from aiohttp import web

log = logging.getLogger("league.scores")

CHANNEL = "live-scores"
LAST_SCORES_MAX = 500
SEND_TIMEOUT = 2.0


class ScoreHub:
    def __init__(self, redis_url: str):
        self.redis = redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=3, health_check_interval=30)
        self.subscribers: "weakref.WeakSet[web.WebSocketResponse]" = weakref.WeakSet()
        self.last_scores: "OrderedDict[int, dict]" = OrderedDict()

    def remember(self, payload: dict) -> None:
        self.last_scores[payload["match_id"]] = payload
        self.last_scores.move_to_end(payload["match_id"])
        while len(self.last_scores) > LAST_SCORES_MAX:
            self.last_scores.popitem(last=False)

    async def publish_score(self, match_id: int, home: int, away: int, minute: int) -> None:
        payload = {"match_id": match_id, "home": home, "away": away, "minute": minute}
        await self.redis.publish(CHANNEL, json.dumps(payload))

    async def _send(self, ws: web.WebSocketResponse, data: str) -> None:
        try:
            await asyncio.wait_for(ws.send_str(data), timeout=SEND_TIMEOUT)
        except (asyncio.TimeoutError, ConnectionResetError, RuntimeError):
            log.info("dropping slow or closed websocket subscriber")
            self.subscribers.discard(ws)
            await ws.close()

    async def fanout_loop(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    backoff = 0.5
                    async for msg in pubsub.listen():
                        if msg["type"] != "message":
                            continue
                        data = msg["data"].decode()
                        self.remember(json.loads(data))
                        targets = [ws for ws in list(self.subscribers) if not ws.closed]
                        await asyncio.gather(*(self._send(ws, data) for ws in targets))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("score fanout failed, reconnecting", extra={"backoff": backoff})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30)

    def register(self, ws: web.WebSocketResponse) -> None:
        self.subscribers.add(ws)

    def unregister(self, ws: web.WebSocketResponse) -> None:
        self.subscribers.discard(ws)

    async def close(self) -> None:
        await self.redis.aclose()


def hub_from_env() -> ScoreHub:
    url = os.environ.get("REDIS_URL")
    if not url:
        raise RuntimeError("REDIS_URL is required")
    return ScoreHub(url)
