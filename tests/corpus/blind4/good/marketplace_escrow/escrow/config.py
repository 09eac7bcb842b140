import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    database_url: str
    amqp_url: str
    payments_base_url: str
    payments_api_key: str
    webhook_secret: str
    max_amount_cents: int

    @classmethod
    def from_env(cls):
        missing = [n for n in ("DATABASE_URL", "AMQP_URL", "PAYMENTS_BASE_URL",
                               "PAYMENTS_API_KEY", "PAYMENTS_WEBHOOK_SECRET") if not os.environ.get(n)]
        if missing:
            raise RuntimeError(f"missing required environment variables: {', '.join(missing)}")
        base = os.environ["PAYMENTS_BASE_URL"].rstrip("/")
        if not base.startswith("https://"):
            raise RuntimeError("PAYMENTS_BASE_URL must use https")
        return cls(
            database_url=os.environ["DATABASE_URL"],
            amqp_url=os.environ["AMQP_URL"],
            payments_base_url=base,
            payments_api_key=os.environ["PAYMENTS_API_KEY"],
            webhook_secret=os.environ["PAYMENTS_WEBHOOK_SECRET"],
            max_amount_cents=int(os.environ.get("MAX_ESCROW_CENTS", "5000000")),
        )
