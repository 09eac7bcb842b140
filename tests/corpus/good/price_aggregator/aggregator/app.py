import asyncio
import json
import logging
import logging.config
import os
import re
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from cachetools import TTLCache
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aggregator.config import Config
from aggregator.sources import fetch_all

logger = logging.getLogger("aggregator")

CONFIG = web.AppKey("config", Config)
SESSION = web.AppKey("session", aiohttp.ClientSession)
CACHE = web.AppKey("cache", TTLCache)
TASKS = web.AppKey("tasks", set)

SYMBOL_RE = re.compile(r"^[A-Z]{1,10}$")
Symbol = Annotated[str, Field(pattern=r"^[A-Z]{1,10}$")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
MAX_BODY_BYTES = 64 * 1024
MAX_PREVIEW_BYTES = 64 * 1024
MAX_WARM_TASKS = 4
ModelT = TypeVar("ModelT", bound=BaseModel)


class ConvertIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_currency: Currency = Field(alias="from")
    to_currency: Currency = Field(alias="to")
    amount: Decimal = Field(gt=0, le=10**12)


class PricingRuleIn(BaseModel):
    """Replaces free-form formulas: partners send a markup and a fee, never code."""

    model_config = ConfigDict(extra="forbid")
    symbol: Symbol
    markup_pct: Decimal = Field(ge=0, le=100)
    fixed_fee: Decimal = Field(ge=0, le=10**6)


class WarmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbols: list[Symbol] = Field(min_length=1, max_length=100)


def _problem(exc_class: type[web.HTTPException], code: str, **details: Any) -> web.HTTPException:
    return exc_class(
        text=json.dumps({"error": {"code": code, **details}}), content_type="application/json"
    )


async def parse(request: web.Request, model: type[ModelT]) -> ModelT:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as exc:
        raise _problem(
            web.HTTPUnprocessableEntity,
            "invalid_request",
            fields=json.loads(exc.json(include_url=False)),
        ) from exc


async def quotes_for(app: web.Application, symbol: str) -> dict[str, dict[str, Any]]:
    cache = app[CACHE]
    quotes = cache.get(symbol)
    if quotes is None:
        cfg = app[CONFIG]
        quotes = await fetch_all(app[SESSION], cfg.providers, symbol, cfg.provider_api_key)
        if not quotes:
            raise _problem(web.HTTPServiceUnavailable, "no_provider_available")
        cache[symbol] = quotes
    return quotes


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if request.app[SESSION].closed:
        return web.json_response({"status": "shutting down"}, status=503)
    return web.json_response({"status": "ready"})


async def get_prices(request: web.Request) -> web.Response:
    symbol = request.query.get("symbol", "")
    if not SYMBOL_RE.fullmatch(symbol):
        raise _problem(web.HTTPBadRequest, "invalid_symbol")
    return web.json_response(await quotes_for(request.app, symbol))


async def convert(request: web.Request) -> web.Response:
    body = await parse(request, ConvertIn)
    try:
        async with request.app[SESSION].get(
            request.app[CONFIG].fx_url, params={"base": body.from_currency}
        ) as resp:
            resp.raise_for_status()
            rates = await resp.json()
    except (aiohttp.ClientError, TimeoutError):
        logger.warning("fx service unavailable", exc_info=True)
        raise _problem(web.HTTPServiceUnavailable, "fx_unavailable") from None
    rate = rates.get("rates", {}).get(body.to_currency)
    if rate is None:
        raise _problem(web.HTTPUnprocessableEntity, "unknown_currency")
    rate = Decimal(str(rate))
    return web.json_response({"amount": str(body.amount * rate), "rate": str(rate)})


async def price_with_rule(request: web.Request) -> web.Response:
    rule = await parse(request, PricingRuleIn)
    quotes = await quotes_for(request.app, rule.symbol)
    best = min(Decimal(str(q["price"])) for q in quotes.values())
    final = best * (1 + rule.markup_pct / 100) + rule.fixed_fee
    return web.json_response({"symbol": rule.symbol, "price": str(final.quantize(Decimal("0.0001")))})


async def preview(request: web.Request) -> web.Response:
    url = request.query.get("url", "")
    parts = urlsplit(url)
    allowed = request.app[CONFIG].preview_allowed_hosts
    # Only https URLs on allow-listed partner hosts, no redirects: no SSRF into the cluster.
    if parts.scheme != "https" or (parts.hostname or "").lower() not in allowed or parts.port:
        raise _problem(web.HTTPBadRequest, "url_not_allowed")
    try:
        async with request.app[SESSION].get(url, allow_redirects=False) as resp:
            status = resp.status
            content = await resp.content.read(MAX_PREVIEW_BYTES)
    except (aiohttp.ClientError, TimeoutError):
        logger.warning("preview fetch failed", extra={"host": parts.hostname}, exc_info=True)
        raise _problem(web.HTTPBadGateway, "preview_unavailable") from None
    return web.json_response(
        {"status": status, "snippet": content.decode("utf-8", errors="replace")[:500]}
    )


async def _refresh(app: web.Application, symbols: list[str]) -> None:
    for symbol in symbols:
        try:
            app[CACHE].pop(symbol, None)
            await quotes_for(app, symbol)
        except web.HTTPServiceUnavailable:
            logger.warning("cache warm skipped symbol", extra={"symbol": symbol})
        await asyncio.sleep(0.2)  # stay under the providers' rate limits


def _forget(tasks: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("cache warm failed", exc_info=task.exception())

    return done


async def warm_cache(request: web.Request) -> web.Response:
    body = await parse(request, WarmIn)
    tasks = request.app[TASKS]
    if len(tasks) >= MAX_WARM_TASKS:
        raise _problem(web.HTTPTooManyRequests, "warm_in_progress")
    # The task is referenced until it finishes and its failure is logged.
    task = asyncio.create_task(_refresh(request.app, body.symbols))
    tasks.add(task)
    task.add_done_callback(_forget(tasks))
    return web.json_response({"status": "refreshing", "symbols": len(body.symbols)}, status=202)


async def client_session(app: web.Application) -> AsyncIterator[None]:
    cfg = app[CONFIG]
    timeout = aiohttp.ClientTimeout(total=cfg.request_timeout, connect=1.0)
    connector = aiohttp.TCPConnector(limit=100, ttl_dns_cache=300)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        app[SESSION] = session
        yield


async def background_tasks(app: web.Application) -> AsyncIterator[None]:
    app[TASKS] = set()
    yield
    for task in list(app[TASKS]):
        task.cancel()
    await asyncio.gather(*app[TASKS], return_exceptions=True)


def create_app(cfg: Config) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[CONFIG] = cfg
    app[CACHE] = TTLCache(maxsize=cfg.cache_size, ttl=cfg.cache_ttl)
    app.cleanup_ctx.extend([client_session, background_tasks])
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/v1/prices", get_prices)
    app.router.add_post("/v1/convert", convert)
    app.router.add_post("/v1/price", price_with_rule)
    app.router.add_get("/v1/preview", preview)
    app.router.add_post("/v1/cache/warm", warm_cache)
    return app


def main() -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "formatters": {
                "json": {
                    "()": "pythonjsonlogger.jsonlogger.JsonFormatter",
                    "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                }
            },
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
            "root": {"level": os.environ.get("LOG_LEVEL", "INFO"), "handlers": ["stderr"]},
        }
    )
    web.run_app(
        create_app(Config.from_env()),
        host="0.0.0.0",
        port=int(os.environ.get("PORT", "8080")),
        shutdown_timeout=20,
    )


if __name__ == "__main__":
    main()
