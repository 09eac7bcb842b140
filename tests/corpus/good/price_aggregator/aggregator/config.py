import os
from dataclasses import dataclass
from urllib.parse import urlsplit


class ConfigError(RuntimeError):
    pass


def _require(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required")
    return value


def _https_url(name: str) -> str:
    value = _require(name)
    if urlsplit(value).scheme != "https":
        raise ConfigError(f"{name} must be an https URL")
    return value


@dataclass(frozen=True)
class Config:
    providers: dict[str, str]
    provider_api_key: str
    fx_url: str
    preview_allowed_hosts: frozenset[str]
    request_timeout: float
    cache_ttl: float
    cache_size: int

    @classmethod
    def from_env(cls) -> "Config":
        names = [n.strip() for n in _require("AGG_PROVIDERS").split(",") if n.strip()]
        return cls(
            providers={name: _https_url(f"AGG_PROVIDER_{name.upper()}_URL") for name in names},
            provider_api_key=_require("AGG_PROVIDER_API_KEY"),
            fx_url=_https_url("AGG_FX_URL"),
            preview_allowed_hosts=frozenset(
                h.strip().lower() for h in _require("AGG_PREVIEW_ALLOWED_HOSTS").split(",")
            ),
            request_timeout=float(os.environ.get("AGG_REQUEST_TIMEOUT_SECONDS", "3")),
            cache_ttl=float(os.environ.get("AGG_CACHE_TTL_SECONDS", "30")),
            cache_size=int(os.environ.get("AGG_CACHE_SIZE", "10000")),
        )
