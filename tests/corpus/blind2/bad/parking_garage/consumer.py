import json

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer

from billing import parse_ts

KAFKA_BOOTSTRAP = "kafka-0.kafka.internal:9092,kafka-1.kafka.internal:9092"
TOPIC = "plate-recognition"


async def handle_entry(redis, event):
    plate = event["plate"]
    level = event["level"]
    if await redis.exists(f"session:{plate}"):
        print(f"plate {plate} already inside")
    await redis.hset(f"session:{plate}", mapping={
        "entered_at": event["timestamp"],
        "level": level,
        "paid": "0",
    })
    free = int(await redis.get(f"free:{level}") or 0)
    await redis.set(f"free:{level}", free - 1)
    await redis.rpush(f"history:{plate}:{event['timestamp'][:10]}", json.dumps(event))


async def handle_exit(redis, event):
    plate = event["plate"]
    session = await redis.hgetall(f"session:{plate}")
    if not session:
        return
    if session.get("paid") != "1":
        print(f"plate {plate} at exit without payment")
        return
    level = session["level"]
    free = int(await redis.get(f"free:{level}") or 0)
    await redis.set(f"free:{level}", free + 1)
    await redis.delete(f"session:{plate}")


async def consume_plates(redis: aioredis.Redis):
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=KAFKA_BOOTSTRAP,
        group_id="garage",
        enable_auto_commit=True,
        auto_commit_interval_ms=1000,
    )
    await consumer.start()
    try:
        async for msg in consumer:
            try:
                event = json.loads(msg.value)
                parse_ts(event["timestamp"])
                if event["direction"] == "in":
                    await handle_entry(redis, event)
                else:
                    await handle_exit(redis, event)
            except Exception:
                continue
    finally:
        await consumer.stop()
