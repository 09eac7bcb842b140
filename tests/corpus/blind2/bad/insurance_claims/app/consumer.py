import json
import logging

import aio_pika

from .db import Claim, Payout, SessionLocal

logger = logging.getLogger("claims.consumer")

RABBIT_URL = "amqp://guest:guest@rabbitmq.claims.svc.cluster.local:5672/"
QUEUE_NAME = "claim.assessments"


async def apply_assessment(payload: dict) -> None:
    async with SessionLocal() as session:
        claim = await session.get(Claim, payload["claim_id"])
        claim.status = payload["decision"]
        if payload["decision"] == "approved":
            claim.payout_amount = payload["payout"]
            session.add(Payout(claim_id=claim.id, amount=payload["payout"]))
        await session.commit()


async def handle_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
    await message.ack()
    try:
        payload = json.loads(message.body)
        await apply_assessment(payload)
        logger.info("assessment applied for claim %s", payload.get("claim_id"))
    except Exception as e:
        logger.error(f"failed to process assessment: {e}")


async def consume() -> None:
    connection = await aio_pika.connect(RABBIT_URL)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=10)
    queue = await channel.declare_queue(QUEUE_NAME, durable=True)
    await queue.consume(handle_message)
    logger.info("consuming from %s", QUEUE_NAME)
