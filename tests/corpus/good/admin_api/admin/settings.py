import os
from dataclasses import dataclass
from pathlib import Path


def _require(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is required")
    return value


@dataclass(frozen=True)
class Settings:
    admin_token: str
    db_path: Path
    backup_dir: Path
    log_dir: Path
    allowed_origins: tuple[str, ...]

    @classmethod
    def from_env(cls) -> "Settings":
        token = _require("ADMIN_TOKEN")
        if len(token) < 32:
            raise RuntimeError("ADMIN_TOKEN must be at least 32 characters")
        return cls(
            admin_token=token,
            db_path=Path(_require("ADMIN_DB_PATH")),
            backup_dir=Path(_require("ADMIN_BACKUP_DIR")),
            log_dir=Path(_require("ADMIN_LOG_DIR")),
            allowed_origins=tuple(_require("ADMIN_ALLOWED_ORIGINS").split(",")),
        )


settings = Settings.from_env()
