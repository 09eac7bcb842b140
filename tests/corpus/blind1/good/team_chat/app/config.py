"""Settings from the environment, validated at startup (fail fast)."""
import os
from dataclasses import dataclass


class ConfigError(RuntimeError):
    pass


def _require(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required")
    return value


def _csv(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    jwt_secret: str
    attachments_bucket: str
    cors_origins: list[str]
    max_upload_bytes: int
    history_page_max: int


def load_settings() -> Settings:
    jwt_secret = _require("JWT_SECRET")
    if len(jwt_secret) < 32:
        raise ConfigError("JWT_SECRET must be at least 32 characters")
    max_upload = int(os.environ.get("MAX_UPLOAD_BYTES", str(10 * 1024 * 1024)))
    if not 1024 <= max_upload <= 100 * 1024 * 1024:
        raise ConfigError("MAX_UPLOAD_BYTES must be between 1 KiB and 100 MiB")
    origins = _csv("CORS_ORIGINS")
    if "*" in origins:
        raise ConfigError("CORS_ORIGINS must list explicit origins")
    return Settings(
        database_url=_require("DATABASE_URL"),
        redis_url=_require("REDIS_URL"),
        jwt_secret=jwt_secret,
        attachments_bucket=_require("ATTACHMENTS_BUCKET"),
        cors_origins=origins,
        max_upload_bytes=max_upload,
        history_page_max=100,
    )
