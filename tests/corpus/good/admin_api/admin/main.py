import hmac
import json
import logging
import logging.config
import secrets
import sqlite3
import subprocess
from collections import deque
from datetime import UTC, datetime
from typing import Annotated, Literal

from argon2 import PasswordHasher
from fastapi import Depends, FastAPI, Header, HTTPException, Path, UploadFile, status
from fastapi.middleware.cors import CORSMiddleware
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from admin.db import get_db
from admin.settings import settings

logging.config.dictConfig(
    {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.jsonlogger.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            }
        },
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"level": "INFO", "handlers": ["stderr"]},
    }
)
logger = logging.getLogger("admin")
hasher = PasswordHasher()

MAX_SNAPSHOT_BYTES = 256 * 1024
LOG_FILES = {"app": "app.log", "access": "access.log"}

app = FastAPI(title="Internal Admin API")
app.add_middleware(
    CORSMiddleware,
    allow_origins=list(settings.allowed_origins),
    allow_credentials=False,
    allow_methods=["GET", "POST"],
    allow_headers=["X-Admin-Token", "Content-Type"],
)


def require_admin(x_admin_token: Annotated[str, Header()]) -> None:
    if not hmac.compare_digest(x_admin_token.encode(), settings.admin_token.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "forbidden")


Admin = Depends(require_admin)


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=r"^[a-z][a-z0-9_.-]{2,31}$")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    password: str = Field(min_length=12, max_length=256)
    role: Literal["viewer", "operator", "admin"] = "viewer"


class BackupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="nightly", pattern=r"^[a-z0-9-]{1,40}$")


class SettingsSnapshot(BaseModel):
    model_config = ConfigDict(extra="forbid")
    maintenance_mode: bool
    banner: str = Field(default="", max_length=500)
    max_export_rows: int = Field(ge=1, le=1_000_000)


@app.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/users", status_code=status.HTTP_201_CREATED, dependencies=[Admin])
def create_user(user: UserIn) -> dict[str, str]:
    password_hash = hasher.hash(user.password)
    try:
        with get_db() as db:
            db.execute(
                "INSERT INTO users (username, email, password_hash, role) VALUES (?, ?, ?, ?)",
                (user.username, user.email, password_hash, user.role),
            )
    except sqlite3.IntegrityError:
        raise HTTPException(status.HTTP_409_CONFLICT, "username already exists") from None
    logger.info("user created", extra={"username": user.username, "role": user.role})
    return {"status": "created"}


@app.post("/v1/users/{username}/reset-password", dependencies=[Admin])
def reset_password(
    username: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_.-]{2,31}$")],
) -> dict[str, str]:
    temp_password = secrets.token_urlsafe(16)
    with get_db() as db:
        updated = db.execute(
            "UPDATE users SET password_hash = ?, must_change_password = 1 WHERE username = ?",
            (hasher.hash(temp_password), username),
        ).rowcount
    if not updated:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "user not found")
    logger.info("password reset", extra={"username": username})
    return {"username": username, "temporary_password": temp_password}


@app.post("/v1/maintenance/backup", dependencies=[Admin])
def backup(body: BackupIn) -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = settings.backup_dir / f"{body.name}-{stamp}.db"
    # Argument list, no shell; the name is validated by the pattern above.
    result = subprocess.run(
        ["sqlite3", str(settings.db_path), f".backup '{target}'"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        logger.error("backup failed", extra={"stderr": result.stderr[-2000:]})
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "backup failed")
    logger.info("backup written", extra={"backup": target.name})
    return {"backup": target.name}


@app.get("/v1/logs/{log}", dependencies=[Admin])
def read_log(log: Literal["app", "access"]) -> dict[str, list[str]]:
    # The file comes from a fixed allow-list, never from a client-supplied path.
    path = settings.log_dir / LOG_FILES[log]
    with path.open(encoding="utf-8", errors="replace") as handle:
        return {"lines": [line.rstrip("\n") for line in deque(handle, maxlen=200)]}


@app.post("/v1/settings/restore", dependencies=[Admin])
async def restore_settings(snapshot: UploadFile) -> dict[str, str]:
    raw = await snapshot.read(MAX_SNAPSHOT_BYTES + 1)
    if len(raw) > MAX_SNAPSHOT_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "snapshot too large")
    try:
        restored = SettingsSnapshot.model_validate_json(raw)
    except ValidationError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY, json.loads(exc.json(include_url=False))
        ) from exc
    with get_db() as db:
        db.execute(
            "INSERT INTO settings_snapshots (payload, restored_at) VALUES (?, ?)",
            (restored.model_dump_json(), datetime.now(UTC).isoformat()),
        )
    logger.info("settings restored")
    return {"status": "restored"}
