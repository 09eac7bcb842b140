import asyncio
import logging
import random
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
BASE_DELAY = 0.2
MAX_DELAY = 2.0
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


class ProviderError(Exception):
    pass


async def fetch_quote(
    session: aiohttp.ClientSession, provider: str, url: str, symbol: str, api_key: str
) -> dict[str, Any]:
    """Bounded retries with exponential backoff and full jitter; 4xx errors are not retried."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with session.get(
                url, params={"symbol": symbol}, headers={"X-API-Key": api_key}
            ) as resp:
                if resp.status in RETRYABLE_STATUS:
                    raise aiohttp.ClientResponseError(
                        resp.request_info, resp.history, status=resp.status
                    )
                resp.raise_for_status()
                return await resp.json()
        except aiohttp.ClientResponseError as exc:
            if exc.status not in RETRYABLE_STATUS or attempt == MAX_ATTEMPTS:
                raise ProviderError(f"{provider}: HTTP {exc.status}") from exc
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            if attempt == MAX_ATTEMPTS:
                raise ProviderError(f"{provider}: {type(exc).__name__}") from exc
        delay = random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2**attempt))
        logger.info(
            "retrying provider",
            extra={"provider": provider, "attempt": attempt, "delay": round(delay, 3)},
        )
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def fetch_all(
    session: aiohttp.ClientSession, providers: dict[str, str], symbol: str, api_key: str
) -> dict[str, dict[str, Any]]:
    """Quotes from every provider that answered; a failing provider is logged and skipped."""
    results = await asyncio.gather(
        *(fetch_quote(session, name, url, symbol, api_key) for name, url in providers.items()),
        return_exceptions=True,
    )
    quotes: dict[str, dict[str, Any]] = {}
    for name, result in zip(providers, results, strict=True):
        if isinstance(result, ProviderError):
            logger.warning("provider unavailable", extra={"provider": name, "error": str(result)})
        elif isinstance(result, BaseException):
            raise result
        else:
            quotes[name] = result
    return quotes
