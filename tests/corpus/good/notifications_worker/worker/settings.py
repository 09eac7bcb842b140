import os
from dataclasses import dataclass


def _require(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is required")
    return value


@dataclass(frozen=True)
class Settings:
    broker_url: str
    redis_url: str
    kafka_bootstrap_servers: list[str]
    sendgrid_api_key: str
    user_service_url: str
    billing_url: str
    http_timeout: tuple[float, float] = (2.0, 10.0)

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            broker_url=_require("NOTIFY_BROKER_URL"),
            redis_url=_require("NOTIFY_REDIS_URL"),
            kafka_bootstrap_servers=_require("NOTIFY_KAFKA_BOOTSTRAP_SERVERS").split(","),
            sendgrid_api_key=_require("SENDGRID_API_KEY"),
            user_service_url=_require("NOTIFY_USER_SERVICE_URL"),
            billing_url=_require("NOTIFY_BILLING_URL"),
        )


settings = Settings.from_env()
