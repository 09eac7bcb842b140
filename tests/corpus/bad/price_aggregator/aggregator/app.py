import asyncio
import time

import aiohttp
import requests
from aiohttp import web

from aggregator.sources import PROVIDERS, fetch_all

FX_URL = "https://fx.example.com/latest"

# symbol -> {"ts": ..., "data": ...}
quote_cache = {}


async def get_prices(request):
    symbol = request.query["symbol"]
    cached = quote_cache.get(symbol)
    if cached and time.time() - cached["ts"] < 30:
        return web.json_response(cached["data"])
    quotes = await fetch_all(symbol)
    quote_cache[symbol] = {"ts": time.time(), "data": quotes}
    return web.json_response(quotes)


async def convert(request):
    body = await request.json()
    rates = requests.get(FX_URL, params={"base": body["from"]}).json()
    rate = rates["rates"][body["to"]]
    return web.json_response({"amount": float(body["amount"]) * rate, "rate": rate})


async def price_with_formula(request):
    body = await request.json()
    quotes = await fetch_all(body["symbol"])
    best = min(q["price"] for q in quotes.values())
    # lets partners send pricing rules like "price * 1.02 + 0.5"
    final = eval(body["formula"], {"price": best})
    return web.json_response({"symbol": body["symbol"], "price": final})


async def preview(request):
    url = request.query["url"]
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            text = await resp.text()
    return web.json_response({"status": resp.status, "snippet": text[:500]})


async def refresh_all(symbols):
    for symbol in symbols:
        quote_cache[symbol] = {"ts": time.time(), "data": await fetch_all(symbol)}
        time.sleep(0.2)  # be nice to the providers


async def warm_cache(request):
    body = await request.json()
    asyncio.create_task(refresh_all(body["symbols"]))
    return web.json_response({"status": "refreshing", "providers": list(PROVIDERS)}, status=202)


def create_app():
    app = web.Application()
    app.router.add_get("/prices", get_prices)
    app.router.add_post("/convert", convert)
    app.router.add_post("/price", price_with_formula)
    app.router.add_get("/preview", preview)
    app.router.add_post("/cache/warm", warm_cache)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="0.0.0.0", port=8080)
