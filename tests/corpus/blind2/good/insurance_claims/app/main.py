import asyncio
import logging
import random
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal

import httpx
from fastapi import Depends, FastAPI, File, Header, HTTPException, Query, Request, UploadFile
from pydantic import BaseModel, EmailStr, Field, field_validator
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from .config import load_settings
from .consumer import AssessmentConsumer
from .db import Claim, Document, claim_to_dict, make_sessionmaker, next_claim_number
from .storage import DocumentStore, UploadRejected, display_name

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
logger = logging.getLogger("claims.api")

settings = load_settings()
SessionLocal = make_sessionmaker(settings.database_url)
store = DocumentStore(settings)


def _log_task_exit(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("assessment consumer stopped", exc_info=task.exception())


@asynccontextmanager
async def lifespan(app: FastAPI):
    consumer = AssessmentConsumer(settings.rabbit_url, settings.assessment_queue, SessionLocal)
    task = asyncio.create_task(consumer.run(), name="assessment-consumer")
    task.add_done_callback(_log_task_exit)
    app.state.consumer, app.state.consumer_task = consumer, task
    app.state.http = httpx.AsyncClient(timeout=settings.fraud_timeout_seconds)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.close()
        await app.state.http.aclose()


app = FastAPI(title="Insurance Claims", lifespan=lifespan)


async def get_session():
    async with SessionLocal() as session:
        yield session


class ClaimIn(BaseModel):
    policy_number: str = Field(pattern=r"^[A-Z0-9-]{6,40}$")
    claimant_name: str = Field(min_length=1, max_length=200)
    claimant_email: EmailStr
    incident_date: date
    description: str = Field(min_length=10, max_length=5000)
    amount: Decimal = Field(gt=0, le=Decimal("5000000"), max_digits=12, decimal_places=2)

    @field_validator("incident_date")
    @classmethod
    def not_in_future(cls, v: date) -> date:
        if v > date.today():
            raise ValueError("incident_date cannot be in the future")
        return v


class ClaimUpdate(BaseModel):
    description: str | None = Field(default=None, min_length=10, max_length=5000)
    claimant_email: EmailStr | None = None


async def fraud_risk(client: httpx.AsyncClient, claim_number: str, amount: Decimal) -> str:
    """Returns 'low'/'high', or 'unknown' when the service is unavailable (claim then goes to manual review)."""
    for attempt in range(3):
        try:
            resp = await client.post(settings.fraud_check_url, json={"claim_number": claim_number, "amount": str(amount)})
            if resp.status_code < 500:
                resp.raise_for_status()
                return resp.json().get("risk", "unknown")
        except httpx.TransportError:
            logger.warning("fraud check transport error", extra={"claim_number": claim_number, "attempt": attempt})
        await asyncio.sleep(0.2 * 2 ** attempt + random.uniform(0, 0.1))
    return "unknown"


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}


@app.get("/readyz")
async def readyz(request: Request, session: AsyncSession = Depends(get_session)):
    try:
        await session.execute(text("SELECT 1"))
    except Exception:
        logger.exception("database not ready")
        raise HTTPException(status_code=503, detail="database unavailable")
    if not request.app.state.consumer.healthy:
        raise HTTPException(status_code=503, detail="assessment consumer not connected")
    return {"status": "ready"}


@app.post("/claims", status_code=201)
async def submit_claim(
    payload: ClaimIn,
    request: Request,
    idempotency_key: str = Header(min_length=8, max_length=64),
    session: AsyncSession = Depends(get_session),
):
    existing = await session.scalar(select(Claim).where(Claim.idempotency_key == idempotency_key))
    if existing is not None:
        return claim_to_dict(existing, [])
    claim_number = await next_claim_number(session)  # sequence value survives the rollback below
    await session.rollback()  # release the pooled connection while waiting on the fraud service
    risk = await fraud_risk(request.app.state.http, claim_number, payload.amount)
    claim = Claim(**payload.model_dump(), claim_number=claim_number, idempotency_key=idempotency_key,
                  status="submitted" if risk == "low" else "review")
    session.add(claim)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        existing = await session.scalar(select(Claim).where(Claim.idempotency_key == idempotency_key))
        if existing is None:
            raise
        return claim_to_dict(existing, [])
    logger.info("claim submitted", extra={"claim_id": claim.id, "risk": risk})
    return claim_to_dict(claim, [])


@app.get("/claims")
async def list_claims(
    policy_number: str | None = Query(default=None, max_length=40),
    limit: int = Query(default=50, ge=1, le=200),
    before_id: int | None = Query(default=None, gt=0),
    session: AsyncSession = Depends(get_session),
):
    stmt = select(Claim).options(selectinload(Claim.documents)).order_by(Claim.id.desc()).limit(limit)
    if policy_number:
        stmt = stmt.where(Claim.policy_number == policy_number)
    if before_id:
        stmt = stmt.where(Claim.id < before_id)
    claims = (await session.scalars(stmt)).all()
    return [claim_to_dict(c, c.documents) for c in claims]


@app.patch("/claims/{claim_id}")
async def update_claim(claim_id: int, changes: ClaimUpdate, session: AsyncSession = Depends(get_session)):
    async with session.begin():
        claim = await session.get(Claim, claim_id, with_for_update=True)
        if claim is None:
            raise HTTPException(status_code=404, detail="claim not found")
        if claim.status not in ("submitted", "review"):
            raise HTTPException(status_code=409, detail=f"claim is {claim.status} and can no longer be edited")
        for field, value in changes.model_dump(exclude_unset=True).items():
            setattr(claim, field, value)
    return claim_to_dict(claim, [])


@app.post("/claims/{claim_id}/documents", status_code=201)
async def upload_document(claim_id: int, file: UploadFile = File(...), session: AsyncSession = Depends(get_session)):
    claim = await session.get(Claim, claim_id)
    if claim is None:
        raise HTTPException(status_code=404, detail="claim not found")
    await session.rollback()  # don't hold a DB connection for the duration of the upload
    try:
        key, size = await store.save(claim_id, file)
    except UploadRejected as exc:
        raise HTTPException(status_code=422, detail=str(exc))
    doc = Document(claim_id=claim_id, filename=display_name(file.filename), storage_key=key,
                   content_type=file.content_type, size_bytes=size)
    session.add(doc)
    await session.commit()
    logger.info("document stored", extra={"claim_id": claim_id, "document_id": doc.id, "size": size})
    return {"id": doc.id, "filename": doc.filename}
