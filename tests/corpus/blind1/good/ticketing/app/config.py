"""Configuration loaded from the environment and validated once at startup."""
import os
from dataclasses import dataclass


class ConfigError(RuntimeError):
    pass


def _require(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"missing required environment variable {name}")
    return value


def _int(name: str, default: int, lo: int, hi: int) -> int:
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str
    db_pool_max: int
    payfast_url: str
    payfast_api_key: str
    payfast_webhook_secret: str
    payfast_timeout_s: int
    admin_token: str
    port: int


def load_settings() -> Settings:
    payfast_url = _require("PAYFAST_URL")
    if not payfast_url.startswith("https://"):
        raise ConfigError("PAYFAST_URL must use https")
    return Settings(
        database_url=_require("DATABASE_URL"),
        db_pool_max=_int("DB_POOL_MAX", 10, 1, 100),
        payfast_url=payfast_url.rstrip("/"),
        payfast_api_key=_require("PAYFAST_API_KEY"),
        payfast_webhook_secret=_require("PAYFAST_WEBHOOK_SECRET"),
        payfast_timeout_s=_int("PAYFAST_TIMEOUT_S", 10, 1, 60),
        admin_token=_require("ADMIN_TOKEN"),
        port=_int("PORT", 8080, 1, 65535),
    )
