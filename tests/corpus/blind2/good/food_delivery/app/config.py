import os
from dataclasses import dataclass
from urllib.parse import urlparse


class ConfigError(RuntimeError):
    pass


def _require(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"missing required environment variable {name}")
    return value


def _https_url(name: str) -> str:
    value = _require(name)
    if urlparse(value).scheme != "https":
        raise ConfigError(f"{name} must be an https URL")
    return value.rstrip("/")


@dataclass(frozen=True)
class Settings:
    database_url: str
    maps_url: str
    payment_url: str
    payment_api_key: str
    notify_allowed_hosts: frozenset[str]
    http_timeout_seconds: float
    eta_cache_size: int
    eta_cache_ttl_seconds: int


def load_settings() -> Settings:
    timeout = float(os.environ.get("HTTP_TIMEOUT_SECONDS", "5"))
    if not 0.5 <= timeout <= 30:
        raise ConfigError("HTTP_TIMEOUT_SECONDS must be between 0.5 and 30")
    hosts = frozenset(h.strip().lower() for h in os.environ.get("NOTIFY_ALLOWED_HOSTS", "").split(",") if h.strip())
    return Settings(
        database_url=_require("DATABASE_URL"),
        maps_url=_https_url("MAPS_URL"),
        payment_url=_https_url("PAYMENT_URL"),
        payment_api_key=_require("PAYMENT_API_KEY"),
        notify_allowed_hosts=hosts,
        http_timeout_seconds=timeout,
        eta_cache_size=int(os.environ.get("ETA_CACHE_SIZE", "10000")),
        eta_cache_ttl_seconds=int(os.environ.get("ETA_CACHE_TTL_SECONDS", "300")),
    )
