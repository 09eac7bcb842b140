"""Payments service, production-grade: the reference example for ``prodready probe``.

It takes payments through an external gateway and keeps accounts in SQLite, and it is written to
survive production conditions: bounded timeouts, retries that are safe because every attempt
carries the same Idempotency-Key, a circuit breaker, idempotent replays, strict validation, a
body size limit, per-client rate limiting, health/readiness endpoints, Prometheus metrics,
request ids, JSON logs and a graceful shutdown.

Run it with ``python app.py``. Environment:

    PORT             port to listen on (default 8000; the host is 127.0.0.1)
    GATEWAY_URL      base URL of the payment gateway (default http://127.0.0.1:5555)
    GATEWAY_TIMEOUT  seconds one gateway call may take, retries included (default 2.0)
    DATABASE_PATH    SQLite file (default payments.db in the working directory)
    RATE_LIMIT_RPS   sustained requests per second per client (default 200)
    RATE_LIMIT_BURST burst size per client (default 400)
    LOG_LEVEL        default INFO
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import logging.config
import math
import os
import random
import re
import signal
import sqlite3
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any

import httpx
import uvicorn
from fastapi import Depends, FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Settings:
    port: int = 8000
    gateway_url: str = ""  # required: there is no sensible default for a payment gateway
    gateway_timeout_s: float = 2.0
    database_path: str = "payments.db"
    rate_limit_rps: float = 200.0
    rate_limit_burst: float = 400.0
    log_level: str = "INFO"
    max_body_bytes: int = 64 * 1024
    graceful_shutdown_s: int = 10

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get
        gateway_url = env("GATEWAY_URL", "").strip()
        if not gateway_url:
            raise SystemExit("GATEWAY_URL is required (the payment gateway's base URL)")
        return cls(
            port=int(env("PORT", cls.port)),
            gateway_url=gateway_url.rstrip("/"),
            gateway_timeout_s=float(env("GATEWAY_TIMEOUT", cls.gateway_timeout_s)),
            database_path=env("DATABASE_PATH", cls.database_path),
            rate_limit_rps=float(env("RATE_LIMIT_RPS", cls.rate_limit_rps)),
            rate_limit_burst=float(env("RATE_LIMIT_BURST", cls.rate_limit_burst)),
            log_level=env("LOG_LEVEL", cls.log_level).upper(),
        )


ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_AMOUNT = 100_000_000  # minor units
MAX_BALANCE = 10**15
IDEMPOTENCY_LOCK_WAIT_S = 2.0
IDEMPOTENCY_TTL_S = 24 * 3600
RATE_LIMIT_EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})

# --------------------------------------------------------------------------- logging

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra= fields are kept, the request id is added when known."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update((k, v) for k, v in vars(record).items() if k not in _RECORD_FIELDS)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def logging_config(level: str) -> dict[str, Any]:
    """Used for uvicorn's log_config: its loggers and ours share one JSON handler on stdout."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "json",
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "uvicorn": {"level": level},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"level": level},
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }


logger = logging.getLogger("payments")
access_logger = logging.getLogger("payments.access")

# --------------------------------------------------------------------------- metrics

REQUESTS = Counter("http_requests_total", "HTTP requests handled.", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
GATEWAY_CALLS = Counter("gateway_calls_total", "Payment gateway calls by outcome.", ["outcome"])
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# --------------------------------------------------------------------------- errors


class ServiceError(Exception):
    """An expected failure, rendered as ``{"error": code, "detail": message}``."""

    def __init__(self, status: int, code: str, detail: str, retry_after: float | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.retry_after = (status, code, detail, retry_after)


def error_response(status: int, code: str, detail: Any = None, headers: dict | None = None):
    body = {"error": code} if detail is None else {"error": code, "detail": detail}
    return JSONResponse(body, status_code=status, headers=headers)


def _retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


# --------------------------------------------------------------------------- models


class PaymentIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    amount: int = Field(gt=0, le=MAX_AMOUNT, description="Amount in minor units")
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])
    account: str = Field(pattern=ID_PATTERN)


class Payment(PaymentIn):
    id: str
    charge_id: str
    status: str


class AccountIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    id: str = Field(pattern=ID_PATTERN)
    balance: int = Field(ge=0, le=MAX_BALANCE)


class Account(AccountIn):
    pass


class DebitIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    amount: int = Field(gt=0, le=MAX_AMOUNT)


PathId = Annotated[str, Path(pattern=ID_PATTERN)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$"),
]

# --------------------------------------------------------------------------- storage


class Database:
    """One SQLite connection in WAL mode, used from worker threads one call at a time."""

    SCHEMA = """
        CREATE TABLE IF NOT EXISTS accounts (
            id TEXT PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0));
        CREATE TABLE IF NOT EXISTS payments (
            id TEXT PRIMARY KEY, charge_id TEXT NOT NULL, amount INTEGER NOT NULL,
            currency TEXT NOT NULL, account TEXT NOT NULL, status TEXT NOT NULL,
            created_at TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS idempotency_keys (
            key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, status_code INTEGER NOT NULL,
            body TEXT NOT NULL, created_at REAL NOT NULL);
    """

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(self.SCHEMA)
        self._conn.execute(
            "DELETE FROM idempotency_keys WHERE created_at < ?", (time.time() - IDEMPOTENCY_TTL_S,)
        )

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(self._locked, fn, *args)

    def _locked(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            return fn(*args)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # Each method below runs in a worker thread via call().

    def ping(self) -> None:
        self._conn.execute("SELECT 1").fetchone()

    def stored_response(self, key: str) -> tuple[str, int, dict[str, Any]] | None:
        row = self._conn.execute(
            "SELECT fingerprint, status_code, body FROM idempotency_keys WHERE key = ?", (key,)
        ).fetchone()
        return (row[0], row[1], json.loads(row[2])) if row else None

    def record_payment(
        self, payment: dict[str, Any], key: str | None, fingerprint: str | None
    ) -> None:
        """The payment and, with a key, its final response are written in one transaction."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO payments (id, charge_id, amount, currency, account, status,"
                " created_at) VALUES (:id, :charge_id, :amount, :currency, :account, :status,"
                " :created_at)",
                {**payment, "created_at": datetime.now(UTC).isoformat()},
            )
            if key is not None:
                conn.execute(
                    "INSERT INTO idempotency_keys VALUES (?, ?, ?, ?, ?)",
                    (key, fingerprint, 201, json.dumps(payment), time.time()),
                )

    def get_payment(self, payment_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT id, charge_id, amount, currency, account, status FROM payments WHERE id = ?",
            (payment_id,),
        ).fetchone()
        keys = ("id", "charge_id", "amount", "currency", "account", "status")
        return dict(zip(keys, row, strict=True)) if row else None

    def create_account(self, account_id: str, balance: int) -> bool:
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO accounts (id, balance) VALUES (?, ?)", (account_id, balance)
        )
        return cursor.rowcount == 1

    def get_balance(self, account_id: str) -> int | None:
        row = self._conn.execute(
            "SELECT balance FROM accounts WHERE id = ?", (account_id,)
        ).fetchone()
        return row[0] if row else None

    def debit(self, account_id: str, amount: int) -> int:
        """Atomic: the check and the update are one statement, so no update is ever lost."""
        row = self._conn.execute(
            "UPDATE accounts SET balance = balance - ? WHERE id = ? AND balance >= ?"
            " RETURNING balance",
            (amount, account_id, amount),
        ).fetchone()
        if row is not None:
            return row[0]
        if self.get_balance(account_id) is None:
            raise ServiceError(404, "account_not_found", f"no account {account_id!r}")
        raise ServiceError(409, "insufficient_funds", f"balance of {account_id!r} is too low")


# --------------------------------------------------------------------------- payment gateway


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; after ``reset_s`` one trial call may pass."""

    def __init__(self, threshold: int = 5, reset_s: float = 2.0) -> None:
        self.threshold, self.reset_s = threshold, reset_s
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_at: float | None = None

    def before_call(self) -> None:
        if self._opened_at is None:
            return
        now = time.monotonic()
        wait = self._opened_at + self.reset_s - now
        if wait > 0:
            raise ServiceError(503, "gateway_unavailable", "circuit open", retry_after=wait)
        if self._trial_at is not None and now - self._trial_at < self.reset_s:
            raise ServiceError(503, "gateway_unavailable", "circuit half-open", retry_after=1)
        self._trial_at = now  # half-open: this call is the trial

    def success(self) -> None:
        self._failures, self._opened_at, self._trial_at = 0, None, None

    def failure(self) -> None:
        self._failures += 1
        self._trial_at = None
        if self._failures >= self.threshold:
            if self._opened_at is None or time.monotonic() - self._opened_at >= self.reset_s:
                logger.warning("gateway circuit opened after %d failures", self._failures)
            self._opened_at = time.monotonic()


class Gateway:
    """Client for ``POST /charges``: bounded in time, retried only when a retry is safe."""

    MAX_ATTEMPTS = 2
    RETRY_STATUSES = frozenset({502, 503})
    RETRY_ERRORS = (httpx.NetworkError, httpx.RemoteProtocolError)  # refused, reset, closed

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_s, connect=0.5),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
        self._breaker = CircuitBreaker()
        self._health_check: asyncio.Future[bool] | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def charge(self, *, amount: int, currency: str, account: str, key: str) -> str:
        self._breaker.before_call()
        payload = {"amount": amount, "currency": currency, "account": account}
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._post_with_retries(payload, key)
        except (TimeoutError, httpx.TimeoutException) as exc:
            self._breaker.failure()
            connect = isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            GATEWAY_CALLS.labels("unreachable" if connect else "timeout").inc()
            if connect:
                raise ServiceError(503, "gateway_unavailable", "gateway unreachable", 1) from exc
            raise ServiceError(
                504, "gateway_timeout", "the gateway did not answer in time"
            ) from exc
        except httpx.TransportError as exc:
            self._breaker.failure()
            GATEWAY_CALLS.labels("unreachable").inc()
            raise ServiceError(503, "gateway_unavailable", "gateway unreachable", 1) from exc
        if response.status_code >= 500:
            self._breaker.failure()
            GATEWAY_CALLS.labels("server_error").inc()
            raise ServiceError(502, "gateway_error", f"gateway answered {response.status_code}")
        self._breaker.success()
        if response.status_code == 402:
            GATEWAY_CALLS.labels("declined").inc()
            raise ServiceError(402, "payment_declined", "the gateway declined the charge")
        try:
            charge = response.json()
            charge_id, status = charge["id"], charge.get("status")
        except (ValueError, KeyError, TypeError, AttributeError):
            charge_id, status = None, None
        if response.status_code >= 400 or not isinstance(charge_id, str) or status != "succeeded":
            GATEWAY_CALLS.labels("invalid").inc()
            raise ServiceError(502, "gateway_error", "unexpected answer from the gateway")
        GATEWAY_CALLS.labels("succeeded").inc()
        return charge_id

    async def _post_with_retries(self, payload: dict[str, Any], key: str) -> httpx.Response:
        # Every attempt carries the same Idempotency-Key: the gateway charges at most once.
        headers = {"Idempotency-Key": key}
        for attempt in range(1, self.MAX_ATTEMPTS + 1):
            last = attempt == self.MAX_ATTEMPTS
            try:
                response = await self._http.post("/charges", json=payload, headers=headers)
            except self.RETRY_ERRORS:
                if last:
                    raise
            else:
                if last or response.status_code not in self.RETRY_STATUSES:
                    return response
            jitter = random.uniform(0.5, 1.5)  # noqa: S311 - backoff jitter, not cryptography
            await asyncio.sleep(0.05 * 2 ** (attempt - 1) * jitter)
        raise AssertionError("unreachable")

    async def healthy(self) -> bool:
        """``GET /health`` with a 0.3 s timeout. Concurrent callers share the check in flight,
        so a burst of probes makes one call; the answer is never older than the request."""
        if self._health_check is None or self._health_check.done():
            self._health_check = asyncio.ensure_future(self._check_health())
        return await asyncio.shield(self._health_check)

    async def _check_health(self) -> bool:
        try:
            return (await self._http.get("/health", timeout=0.3)).status_code == 200
        except httpx.HTTPError:
            return False


# --------------------------------------------------------------------------- concurrency helpers


class KeyedLocks:
    """One asyncio.Lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, list[Any]] = {}  # key -> [lock, users]

    @asynccontextmanager
    async def hold(self, key: str, wait_s: float) -> AsyncIterator[None]:
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            try:
                async with asyncio.timeout(wait_s):
                    await entry[0].acquire()
            except TimeoutError:
                raise ServiceError(
                    409, "request_in_progress", "a request with this key is in progress", 1
                ) from None
            try:
                yield
            finally:
                entry[0].release()
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[key]


class TokenBuckets:
    """Token bucket per client, at most ``max_clients`` remembered (least recently seen dropped)."""

    def __init__(self, rate: float, burst: float, max_clients: int = 10_000) -> None:
        self.rate, self.burst, self.max_clients = rate, burst, max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str) -> float:
        """0 when the request may pass, else the seconds until a token is available."""
        now = time.monotonic()
        tokens, last = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self._buckets[client] = (tokens - 1 if wait == 0 else tokens, now)
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


# --------------------------------------------------------------------------- ASGI middleware


async def send_json(send: Send, status: int, body: dict, headers: dict[str, str] | None = None):
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


def _valid_request_id(value: str | None) -> bool:
    return value is not None and re.fullmatch(r"[A-Za-z0-9._-]{1,128}", value) is not None


class RequestContextMiddleware:
    """Request id, access log, metrics, and a JSON 500 for anything unhandled."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        incoming = Headers(scope=scope).get("x-request-id")
        request_id = incoming if _valid_request_id(incoming) else uuid.uuid4().hex
        request_id_var.set(request_id)  # each request runs in its own task: no leak
        started = time.perf_counter()
        status, response_started = 500, False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error")
            if not response_started:
                await send_json(
                    send, 500, {"error": "internal_error"}, {"X-Request-ID": request_id}
                )
        finally:
            duration = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "<unmatched>")
            method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(duration)
            access_logger.info(
                "%s %s %d",
                method,
                scope["path"][:256],
                status,
                extra={
                    "method": method,
                    "path": scope["path"][:256],
                    "status": status,
                    "duration_ms": round(duration * 1000, 2),
                    "client": (scope.get("client") or ("-",))[0],
                },
            )


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, rate: float, burst: float) -> None:
        self.app = app
        self.buckets = TokenBuckets(rate, burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in RATE_LIMIT_EXEMPT:
            client = (scope.get("client") or ("unknown",))[0]
            wait = self.buckets.take(client)
            if wait > 0:
                await send_json(send, 429, {"error": "rate_limited"}, _retry_after(wait))
                return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413)
        self.body = {"error": "payload_too_large", "detail": f"the body exceeds {limit} bytes"}


class BodySizeLimitMiddleware:
    """413 for a declared Content-Length over the limit, or once a streamed body exceeds it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                return await send_json(send, 400, {"error": "invalid_content_length"})
            if int(declared) > self.max_bytes:
                return await send_json(send, 413, BodyTooLarge(self.max_bytes).body)
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises HTTPExceptions raised while it reads the body.
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started |= message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:  # the body was read outside FastAPI's request handling
            if response_started:
                raise
            await send_json(send, 413, exc.body)


# --------------------------------------------------------------------------- application


@dataclass
class Services:
    settings: Settings
    db: Database
    gateway: Gateway
    key_locks: KeyedLocks = field(default_factory=KeyedLocks)
    shutting_down: bool = False


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def _on_termination(callback: Callable[[], None]) -> None:
    """Chain ``callback`` before uvicorn's own SIGTERM/SIGINT handlers (installed by now)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum: int, frame: Any, previous: Callable[..., Any] = previous) -> None:
            callback()
            previous(signum, frame)

        try:
            signal.signal(sig, handler)
        except ValueError:  # not the main thread (e.g. a test client): nothing to chain
            return


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await asyncio.to_thread(Database, settings.database_path)
        gateway = Gateway(settings.gateway_url, settings.gateway_timeout_s)
        services = Services(settings, db, gateway)
        app.state.services = services

        def begin_shutdown() -> None:
            services.shutting_down = True

        _on_termination(begin_shutdown)
        logger.info("ready", extra={"gateway": settings.gateway_url, "db": settings.database_path})
        try:
            yield
        finally:
            # uvicorn has stopped accepting and drained in-flight requests by now.
            services.shutting_down = True
            await gateway.aclose()
            await asyncio.to_thread(db.close)
            logger.info("stopped")

    app = FastAPI(
        title="payments (production-grade example)",
        version="1.0.0",
        lifespan=lifespan,
        middleware=[  # outermost first
            Middleware(RequestContextMiddleware),
            Middleware(
                RateLimitMiddleware, rate=settings.rate_limit_rps, burst=settings.rate_limit_burst
            ),
            Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes),
        ],
    )

    @app.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        headers = _retry_after(exc.retry_after) if exc.retry_after is not None else None
        return error_response(exc.status, exc.code, exc.detail, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": [str(part) for part in e.get("loc", ())],
                "msg": e.get("msg"),
                "type": e.get("type"),
            }
            for e in exc.errors()[:20]
        ]
        return error_response(422, "validation_error", errors)

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONResponse(exc.body, status_code=413)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
        return error_response(exc.status_code, code, exc.detail, exc.headers)

    register_routes(app)
    return app


def register_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "Not ready"}})
    async def readyz(services: ServicesDep) -> JSONResponse:
        if services.shutting_down:
            return JSONResponse({"status": "shutting_down"}, status_code=503)
        checks = {"gateway": await services.gateway.healthy()}
        try:
            await services.db.call(services.db.ping)
            checks["database"] = True
        except sqlite3.Error:
            checks["database"] = False
        ready = all(checks.values())
        body = {"status": "ready" if ready else "not_ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/payments", status_code=201, response_model=Payment, tags=["payments"])
    async def create_payment(
        body: PaymentIn, services: ServicesDep, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        if idempotency_key is None:
            # Still give the gateway a key, so that our own retries cannot charge twice.
            return await _charge(services, body, uuid.uuid4().hex)
        fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        async with services.key_locks.hold(idempotency_key, IDEMPOTENCY_LOCK_WAIT_S):
            stored = await services.db.call(services.db.stored_response, idempotency_key)
            if stored is None:
                return await _charge(services, body, idempotency_key, remember=fingerprint)
            stored_fingerprint, status, content = stored
            if stored_fingerprint != fingerprint:
                raise ServiceError(
                    422, "idempotency_key_reused", "this key was used with another request"
                )
            return JSONResponse(
                content, status_code=status, headers={"Idempotent-Replayed": "true"}
            )

    @app.get("/payments/{payment_id}", response_model=Payment, tags=["payments"])
    async def get_payment(payment_id: PathId, services: ServicesDep) -> dict[str, Any]:
        payment = await services.db.call(services.db.get_payment, payment_id)
        if payment is None:
            raise ServiceError(404, "payment_not_found", f"no payment {payment_id!r}")
        return payment

    @app.post("/accounts", status_code=201, response_model=Account, tags=["accounts"])
    async def create_account(body: AccountIn, services: ServicesDep) -> dict[str, Any]:
        if not await services.db.call(services.db.create_account, body.id, body.balance):
            raise ServiceError(409, "account_exists", f"account {body.id!r} already exists")
        return body.model_dump()

    @app.get("/accounts/{account_id}", response_model=Account, tags=["accounts"])
    async def get_account(account_id: PathId, services: ServicesDep) -> dict[str, Any]:
        balance = await services.db.call(services.db.get_balance, account_id)
        if balance is None:
            raise ServiceError(404, "account_not_found", f"no account {account_id!r}")
        return {"id": account_id, "balance": balance}

    @app.post(
        "/accounts/{account_id}/debit",
        response_model=Account,
        tags=["accounts"],
        responses={
            404: {"description": "Unknown account"},
            409: {"description": "Insufficient funds"},
        },
    )
    async def debit(account_id: PathId, body: DebitIn, services: ServicesDep) -> dict[str, Any]:
        balance = await services.db.call(services.db.debit, account_id, body.amount)
        return {"id": account_id, "balance": balance}


async def _charge(
    services: Services, body: PaymentIn, key: str, remember: str | None = None
) -> JSONResponse:
    """Charge through the gateway with ``key``, then record the payment; with ``remember`` (the
    request's fingerprint) the response is stored as the final answer for ``key``, in the same
    transaction.

    A failed charge raises before anything is stored, so a client retry with the same key calls
    the gateway again with the same key, and the gateway deduplicates it.
    """
    charge_id = await services.gateway.charge(
        amount=body.amount, currency=body.currency, account=body.account, key=key
    )
    payment = {
        "id": f"pay_{uuid.uuid4().hex}",
        "charge_id": charge_id,
        **body.model_dump(),
        "status": "succeeded",
    }
    stored_key = key if remember is not None else None
    await services.db.call(services.db.record_payment, payment, stored_key, remember)
    logger.info("payment created", extra={"payment_id": payment["id"], "amount": body.amount})
    return JSONResponse(payment, status_code=201)


app = create_app()


def main() -> None:
    settings = Settings.from_env()
    # uvicorn re-raises SIGTERM after its graceful shutdown; exit 0 instead of dying by signal.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=settings.port,
        log_config=logging_config(settings.log_level),
        access_log=False,  # RequestContextMiddleware writes the access log, with durations
        proxy_headers=False,  # not behind a proxy: X-Forwarded-For must not dodge the rate limit
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
    )


if __name__ == "__main__":
    main()
