import asyncio
import logging
import os
import shutil
from datetime import date

import aioboto3
import requests
from fastapi import Depends, FastAPI, File, HTTPException, UploadFile
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .consumer import consume
from .db import Claim, Document, claim_to_dict, get_session, next_claim_number

logging.basicConfig(level=logging.INFO)
logger = logging.getLogger("claims.api")

STORAGE_BACKEND = os.getenv("STORAGE_BACKEND", "local")
UPLOAD_DIR = os.getenv("UPLOAD_DIR", "/app/uploads")
S3_BUCKET = os.getenv("S3_BUCKET", "claims-documents")
FRAUD_CHECK_URL = os.getenv("FRAUD_CHECK_URL", "https://fraud.example.com/v1/score")

s3_session = aioboto3.Session(
    aws_access_key_id="AKIAQ4NXCLAIMS7EXAMPLE",
    aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYclaimsKEY",
    region_name="eu-west-1",
)

app = FastAPI(title="Insurance Claims")


@app.on_event("startup")
async def start_consumer():
    asyncio.create_task(consume())


class ClaimIn(BaseModel):
    policy_number: str
    claimant_name: str
    claimant_email: str
    incident_date: date
    description: str
    amount: float


async def save_document(claim_id: int, upload: UploadFile) -> str:
    if STORAGE_BACKEND == "s3":
        key = f"claims/{claim_id}/{upload.filename}"
        async with s3_session.client("s3") as s3:
            await s3.upload_fileobj(upload.file, S3_BUCKET, key)
        return f"s3://{S3_BUCKET}/{key}"
    folder = os.path.join(UPLOAD_DIR, str(claim_id))
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, upload.filename)
    with open(path, "wb") as out:
        shutil.copyfileobj(upload.file, out)
    return path


@app.post("/claims", status_code=201)
async def submit_claim(payload: ClaimIn, session: AsyncSession = Depends(get_session)):
    claim = Claim(**payload.model_dump(), claim_number=await next_claim_number(session))
    session.add(claim)
    await session.commit()
    score = requests.post(FRAUD_CHECK_URL, json={"claim_id": claim.id, "amount": payload.amount}).json()
    if score.get("risk") == "high":
        claim.status = "review"
        await session.commit()
    return claim_to_dict(claim, [])


@app.get("/claims")
async def list_claims(policy_number: str | None = None, session: AsyncSession = Depends(get_session)):
    stmt = select(Claim).order_by(Claim.created_at.desc())
    if policy_number:
        stmt = stmt.where(Claim.policy_number == policy_number)
    claims = (await session.scalars(stmt)).all()
    result = []
    for claim in claims:
        docs = (await session.scalars(select(Document).where(Document.claim_id == claim.id))).all()
        result.append(claim_to_dict(claim, docs))
    return result


@app.patch("/claims/{claim_id}")
async def update_claim(claim_id: int, changes: dict, session: AsyncSession = Depends(get_session)):
    claim = await session.get(Claim, claim_id)
    if claim is None:
        raise HTTPException(status_code=404, detail="claim not found")
    for field, value in changes.items():
        setattr(claim, field, value)
    await session.commit()
    return claim_to_dict(claim, [])


@app.post("/claims/{claim_id}/documents", status_code=201)
async def upload_document(claim_id: int, file: UploadFile = File(...), session: AsyncSession = Depends(get_session)):
    claim = await session.get(Claim, claim_id)
    if claim is None:
        raise HTTPException(status_code=404, detail="claim not found")
    key = await save_document(claim_id, file)
    doc = Document(claim_id=claim_id, filename=file.filename, storage_key=key, content_type=file.content_type)
    session.add(doc)
    await session.commit()
    return {"id": doc.id, "filename": doc.filename}
