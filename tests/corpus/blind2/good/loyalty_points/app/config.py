import os
from dataclasses import dataclass


class ConfigError(RuntimeError):
    pass


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} must be set")
    return value


def _bounded_int(name: str, default: int, lo: int, hi: int) -> int:
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
    redis_url: str
    secret_key: str
    admin_token: str
    expiry_days: int
    balance_cache_ttl: int
    max_points_per_txn: int


def load_settings() -> Settings:
    secret = _required("SECRET_KEY")
    if len(secret) < 32:
        raise ConfigError("SECRET_KEY must be at least 32 characters")
    admin_token = _required("ADMIN_TOKEN")
    if len(admin_token) < 32:
        raise ConfigError("ADMIN_TOKEN must be at least 32 characters")
    return Settings(
        database_url=_required("DATABASE_URL"),
        redis_url=_required("REDIS_URL"),
        secret_key=secret,
        admin_token=admin_token,
        expiry_days=_bounded_int("POINTS_EXPIRY_DAYS", 365, 30, 3650),
        balance_cache_ttl=_bounded_int("BALANCE_CACHE_TTL", 60, 1, 3600),
        max_points_per_txn=_bounded_int("MAX_POINTS_PER_TXN", 100_000, 1, 10_000_000),
    )
