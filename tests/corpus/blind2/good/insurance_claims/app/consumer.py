import asyncio
import logging
from decimal import Decimal
from typing import Literal

import aio_pika
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert

from .db import Claim, Payout

logger = logging.getLogger("claims.consumer")

OPEN_STATES = ("submitted", "review")


class Assessment(BaseModel):
    assessment_id: str = Field(min_length=1, max_length=64)
    claim_id: int = Field(gt=0)
    decision: Literal["approved", "rejected"]
    payout: Decimal | None = Field(default=None, ge=0, le=Decimal("10000000"))


async def apply_assessment(sessionmaker, a: Assessment) -> bool:
    """Idempotent: only an open claim transitions, and a payout is keyed by assessment_id."""
    async with sessionmaker() as session, session.begin():
        result = await session.execute(
            update(Claim)
            .where(Claim.id == a.claim_id, Claim.status.in_(OPEN_STATES))
            .values(status=a.decision, payout_amount=a.payout if a.decision == "approved" else None)
        )
        if result.rowcount == 0:
            return False
        if a.decision == "approved":
            if a.payout is None:
                raise ValueError("approved assessment without payout")
            await session.execute(
                insert(Payout)
                .values(claim_id=a.claim_id, assessment_id=a.assessment_id, amount=a.payout)
                .on_conflict_do_nothing(index_elements=["assessment_id"])
            )
    return True


class AssessmentConsumer:
    def __init__(self, rabbit_url: str, queue_name: str, sessionmaker):
        self.rabbit_url = rabbit_url
        self.queue_name = queue_name
        self.sessionmaker = sessionmaker
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None

    @property
    def healthy(self) -> bool:
        return self.connection is not None and not self.connection.is_closed

    async def handle(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        # ack only after the DB transaction commits; failures go to the dead-letter queue, not a requeue loop
        async with message.process(requeue=False):
            try:
                assessment = Assessment.model_validate_json(message.body)
            except ValidationError:
                logger.error("invalid assessment message", extra={"message_id": message.message_id}, exc_info=True)
                raise
            try:
                applied = await apply_assessment(self.sessionmaker, assessment)
            except Exception:
                logger.exception("assessment failed; dead-lettered",
                                 extra={"claim_id": assessment.claim_id, "assessment_id": assessment.assessment_id})
                raise
            logger.info("assessment processed",
                        extra={"claim_id": assessment.claim_id, "assessment_id": assessment.assessment_id,
                               "applied": applied})

    async def run(self) -> None:
        self.connection = await aio_pika.connect_robust(self.rabbit_url, timeout=10)
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=10)
        dlx = await channel.declare_exchange("claims.dlx", aio_pika.ExchangeType.DIRECT, durable=True)
        dlq = await channel.declare_queue(f"{self.queue_name}.dead", durable=True)
        await dlq.bind(dlx, routing_key=self.queue_name)
        queue = await channel.declare_queue(
            self.queue_name, durable=True,
            arguments={"x-dead-letter-exchange": "claims.dlx", "x-dead-letter-routing-key": self.queue_name},
        )
        await queue.consume(self.handle)
        logger.info("consuming", extra={"queue": self.queue_name})
        await asyncio.Future()  # run until cancelled

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
