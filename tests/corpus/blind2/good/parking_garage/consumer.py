import asyncio
import hashlib
import json
import logging
import uuid

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from billing import Config, parse_ts

log = logging.getLogger("garage.consumer")

# Atomic entry: create the session only if absent, then take a spot. Duplicate events are no-ops.
ENTRY_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'entered_at', ARGV[1], 'level', ARGV[2], 'paid', '0', 'session_id', ARGV[3])
redis.call('DECR', KEYS[2])
return 1
"""
# Atomic exit: only a paid session frees its spot, exactly once.
EXIT_LUA = """
local level = redis.call('HGET', KEYS[1], 'level')
if not level or redis.call('HGET', KEYS[1], 'paid') ~= '1' then return 0 end
redis.call('DEL', KEYS[1])
redis.call('INCR', 'free:' .. level)
return 1
"""
VALID_LEVELS = {"P1", "P2", "P3"}


def plate_ref(plate: str) -> str:
    return hashlib.sha256(plate.encode()).hexdigest()[:12]


class PlateConsumer:
    def __init__(self, cfg: Config, redis: aioredis.Redis):
        self.cfg = cfg
        self.redis = redis
        self.entry = redis.register_script(ENTRY_LUA)
        self.exit = redis.register_script(EXIT_LUA)
        self.healthy = False

    async def handle(self, event: dict):
        plate = str(event["plate"]).upper()
        parse_ts(event["timestamp"])
        if event["direction"] == "in":
            if event["level"] not in VALID_LEVELS:
                raise ValueError("unknown level")
            created = await self.entry(keys=[f"session:{plate}", f"free:{event['level']}"],
                                       args=[event["timestamp"], event["level"], str(uuid.uuid4())])
            if created:
                await self.redis.lpush(f"history:{plate}", json.dumps(event))
                await self.redis.ltrim(f"history:{plate}", 0, 99)
            else:
                log.info("duplicate entry ignored plate_ref=%s", plate_ref(plate))
        elif event["direction"] == "out":
            if not await self.exit(keys=[f"session:{plate}"]):
                log.warning("exit without paid session plate_ref=%s", plate_ref(plate))
        else:
            raise ValueError("unknown direction")

    async def run_once(self):
        consumer = AIOKafkaConsumer(self.cfg.kafka_topic, bootstrap_servers=self.cfg.kafka_bootstrap,
                                    group_id="garage", enable_auto_commit=False, auto_offset_reset="earliest")
        producer = AIOKafkaProducer(bootstrap_servers=self.cfg.kafka_bootstrap, acks="all")
        await consumer.start()
        await producer.start()
        self.healthy = True
        try:
            async for msg in consumer:
                try:
                    await self.handle(json.loads(msg.value))
                except (ValueError, KeyError, TypeError):
                    log.exception("invalid plate event offset=%s, sent to DLQ", msg.offset)
                    await producer.send_and_wait(self.cfg.kafka_dlq_topic, msg.value)
                # aioredis errors propagate: offset stays uncommitted and the message is redelivered after restart
                await consumer.commit()
        finally:
            self.healthy = False
            await consumer.stop()
            await producer.stop()

    async def run_forever(self):
        delay = 1
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("plate consumer crashed, restarting in %ss", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60)
            else:
                delay = 1
