"""Environment configuration, validated once at process start."""
import os
from dataclasses import dataclass
from functools import lru_cache

SUPPORTED_CARRIERS = ("dhl", "ups", "fedex")


class ConfigError(RuntimeError):
    pass


def _require(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required")
    return value


def _https(name: str) -> str:
    value = _require(name)
    if not value.startswith("https://"):
        raise ConfigError(f"{name} must be an https URL")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str
    rabbitmq_url: str
    db_pool_max: int
    carrier_urls: dict
    carrier_keys: dict
    sms_api_url: str
    sms_api_key: str
    http_timeout: tuple


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    pool_max = int(os.environ.get("DB_POOL_MAX", "10"))
    if not 1 <= pool_max <= 50:
        raise ConfigError("DB_POOL_MAX must be between 1 and 50")
    return Settings(
        database_url=_require("DATABASE_URL"),
        rabbitmq_url=_require("RABBITMQ_URL"),
        db_pool_max=pool_max,
        carrier_urls={c: _https(f"CARRIER_{c.upper()}_URL") for c in SUPPORTED_CARRIERS},
        carrier_keys={c: _require(f"CARRIER_{c.upper()}_API_KEY") for c in SUPPORTED_CARRIERS},
        sms_api_url=_https("SMS_API_URL"),
        sms_api_key=_require("SMS_API_KEY"),
        http_timeout=(3.05, 10),
    )
