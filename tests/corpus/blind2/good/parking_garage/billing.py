import asyncio
import logging
import math
import os
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

import aiohttp

log = logging.getLogger("garage.billing")

HOURLY_RATE = Decimal("3.50")
DAILY_CAP = Decimal("28.00")


@dataclass(frozen=True)
class Config:
    redis_url: str
    kafka_bootstrap: str
    kafka_topic: str
    kafka_dlq_topic: str
    payment_api_url: str
    payment_api_key: str
    barrier_api_url: str
    admin_token: str

    @classmethod
    def from_env(cls):
        missing = [k for k in ("GARAGE_REDIS_URL", "GARAGE_KAFKA_BOOTSTRAP", "GARAGE_PAYMENT_API_URL",
                               "GARAGE_PAYMENT_API_KEY", "GARAGE_BARRIER_API_URL", "GARAGE_ADMIN_TOKEN")
                   if not os.environ.get(k)]
        if missing:
            raise RuntimeError(f"missing required configuration: {', '.join(missing)}")
        cfg = cls(
            redis_url=os.environ["GARAGE_REDIS_URL"],
            kafka_bootstrap=os.environ["GARAGE_KAFKA_BOOTSTRAP"],
            kafka_topic=os.environ.get("GARAGE_KAFKA_TOPIC", "plate-recognition"),
            kafka_dlq_topic=os.environ.get("GARAGE_KAFKA_DLQ_TOPIC", "plate-recognition-dlq"),
            payment_api_url=os.environ["GARAGE_PAYMENT_API_URL"],
            payment_api_key=os.environ["GARAGE_PAYMENT_API_KEY"],
            barrier_api_url=os.environ["GARAGE_BARRIER_API_URL"],
            admin_token=os.environ["GARAGE_ADMIN_TOKEN"],
        )
        if not cfg.payment_api_url.startswith("https://"):
            raise RuntimeError("GARAGE_PAYMENT_API_URL must be https")
        if len(cfg.admin_token) < 32:
            raise RuntimeError("GARAGE_ADMIN_TOKEN must be at least 32 characters")
        return cfg


class PaymentDeclined(Exception):
    pass


class PaymentUnavailable(Exception):
    pass


def compute_fee(entered_at: datetime, exited_at: datetime, validated_hours: int = 0) -> Decimal:
    hours = max(math.ceil((exited_at - entered_at).total_seconds() / 3600), 0)
    billable = max(hours - validated_hours, 0)
    days, rest = divmod(billable, 24)
    fee = days * DAILY_CAP + min(rest * HOURLY_RATE, DAILY_CAP)
    return fee.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


async def charge(http: aiohttp.ClientSession, cfg: Config, *, amount: Decimal, card_token: str,
                 idempotency_key: str, attempts: int = 4) -> dict:
    payload = {"amount": int(amount * 100), "currency": "EUR", "source": card_token,
               "description": "Parking fee"}
    headers = {"Authorization": f"Bearer {cfg.payment_api_key}", "Idempotency-Key": idempotency_key}
    timeout = aiohttp.ClientTimeout(total=10, connect=3)
    for attempt in range(1, attempts + 1):
        try:
            async with http.post(cfg.payment_api_url, json=payload, headers=headers, timeout=timeout) as resp:
                body = await resp.json(content_type=None)
                if resp.status in (200, 201) and body.get("status") == "succeeded":
                    return body
                if 400 <= resp.status < 500 and resp.status != 429:
                    raise PaymentDeclined(body.get("decline_code") or f"http {resp.status}")
                log.warning("payment gateway transient error status=%s attempt=%s", resp.status, attempt)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            log.warning("payment gateway unreachable attempt=%s", attempt, exc_info=True)
        if attempt < attempts:
            # same Idempotency-Key on every attempt: the gateway returns the original charge, never a second one
            await asyncio.sleep(min(0.5 * 2 ** attempt, 8) + random.uniform(0, 0.3))
    raise PaymentUnavailable("payment gateway unavailable")


async def open_barrier(http: aiohttp.ClientSession, cfg: Config, lane: str) -> bool:
    timeout = aiohttp.ClientTimeout(total=3)
    try:
        async with http.post(f"{cfg.barrier_api_url}/{lane}/open", timeout=timeout) as resp:
            return resp.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError):
        log.exception("barrier open failed lane=%s", lane)
        return False


def parse_ts(value: str) -> datetime:
    ts = datetime.fromisoformat(value)
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)
