"""Configuration from the environment, validated at startup (the process refuses to start
without a required secret instead of falling back to a default)."""

from functools import lru_cache

from pydantic import Field, HttpUrl, PostgresDsn, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", frozen=True)

    database_url: PostgresDsn
    db_pool_max_size: int = Field(default=10, ge=1, le=100)
    db_statement_timeout_ms: int = Field(default=5000, ge=100, le=60000)

    stripe_api_key: SecretStr
    stripe_webhook_secret: SecretStr
    stripe_timeout_seconds: float = Field(default=10.0, gt=0, le=30)

    jwt_public_key: str = Field(min_length=1)
    jwt_issuer: HttpUrl
    jwt_audience: str = "payments-api"

    fraud_service_url: HttpUrl
    fraud_threshold: float = Field(default=0.8, ge=0, le=1)
    fraud_timeout_seconds: float = Field(default=2.0, gt=0, le=10)

    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
