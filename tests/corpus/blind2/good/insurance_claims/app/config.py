import os
from dataclasses import dataclass
from urllib.parse import urlparse


class ConfigError(RuntimeError):
    pass


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} must be set")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str
    rabbit_url: str
    assessment_queue: str
    storage_backend: str
    upload_dir: str
    s3_bucket: str
    fraud_check_url: str
    fraud_timeout_seconds: float
    max_upload_bytes: int


def load_settings() -> Settings:
    backend = os.environ.get("STORAGE_BACKEND", "s3")
    if backend not in ("s3", "local"):
        raise ConfigError("STORAGE_BACKEND must be 's3' or 'local'")
    if backend == "local" and os.environ.get("ALLOW_LOCAL_STORAGE") != "1":
        raise ConfigError("local storage is for development only; set ALLOW_LOCAL_STORAGE=1 to acknowledge")
    fraud_url = _required("FRAUD_CHECK_URL")
    if urlparse(fraud_url).scheme != "https":
        raise ConfigError("FRAUD_CHECK_URL must be https")
    max_mb = int(os.environ.get("MAX_UPLOAD_MB", "15"))
    if not 1 <= max_mb <= 100:
        raise ConfigError("MAX_UPLOAD_MB must be between 1 and 100")
    return Settings(
        database_url=_required("DATABASE_URL"),
        rabbit_url=_required("RABBIT_URL"),
        assessment_queue=os.environ.get("ASSESSMENT_QUEUE", "claim.assessments"),
        storage_backend=backend,
        upload_dir=os.environ.get("UPLOAD_DIR", "/data/uploads"),
        s3_bucket=_required("S3_BUCKET") if backend == "s3" else "",
        fraud_check_url=fraud_url,
        fraud_timeout_seconds=float(os.environ.get("FRAUD_TIMEOUT_SECONDS", "3")),
        max_upload_bytes=max_mb * 1024 * 1024,
    )
