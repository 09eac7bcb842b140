import json

import redis.asyncio as redis

REDIS_URL = "redis://:leaguepass@redis-master.sports.svc:6379/0"
CHANNEL = "live-scores"

r = redis.from_url(REDIS_URL)
_subscribers = []
_last_scores = {}


async def publish_score(match_id, home, away, minute):
    payload = {"match_id": match_id, "home": home, "away": away, "minute": minute}
    _last_scores[match_id] = payload
    await r.publish(CHANNEL, json.dumps(payload))


async def fanout_loop():
    pubsub = r.pubsub()
    await pubsub.subscribe(CHANNEL)
    while True:
        try:
            msg = await pubsub.get_message(ignore_subscribe_messages=True)
            if msg:
                for ws in _subscribers:
                    await ws.send_str(msg["data"].decode())
        except Exception:
            continue


def register(ws):
    _subscribers.append(ws)
