import asyncio
import logging

import httpx

logger = logging.getLogger(__name__)

PROVIDERS = {
    "alpha": "https://api.alpha-quotes.example.com/v2/quote",
    "beta": "https://beta-prices.example.net/prices",
    "gamma": "http://localhost:7001/quote",
}
PROVIDER_API_KEY = "pk_live_6f1b2c3d4e5f60718293a4b5c6d7e8f9"


async def fetch_quote(provider, symbol):
    url = PROVIDERS[provider]
    while True:
        try:
            async with httpx.AsyncClient(timeout=None) as client:
                resp = await client.get(
                    url,
                    params={"symbol": symbol},
                    headers={"X-API-Key": PROVIDER_API_KEY},
                )
                resp.raise_for_status()
                return resp.json()
        except httpx.HTTPError:
            logger.warning("quote from %s failed, retrying", provider)
            await asyncio.sleep(1)


async def fetch_all(symbol):
    results = await asyncio.gather(*[fetch_quote(p, symbol) for p in PROVIDERS])
    return dict(zip(PROVIDERS, results))
