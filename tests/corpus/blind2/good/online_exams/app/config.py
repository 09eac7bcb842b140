from functools import lru_cache

from pydantic import AnyHttpUrl, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMS_")

    database_url: str
    celery_broker_url: str
    celery_result_backend: str
    lms_grades_url: AnyHttpUrl
    jwt_public_key: str
    jwt_audience: str = "online-exams"
    proctor_webhook_secret: str = Field(min_length=32)
    allowed_origins: list[str] = Field(default_factory=list)
    snapshot_hosts: list[str] = Field(default_factory=list)
    snapshot_bucket: str
    http_timeout_seconds: float = Field(default=5.0, gt=0, le=30)

    @field_validator("lms_grades_url")
    @classmethod
    def require_https(cls, v):
        if v.scheme != "https":
            raise ValueError("LMS URL must use https")
        return v


@lru_cache
def get_settings() -> Settings:
    return Settings()
