import hmac
import json
import logging
import os
import sys
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import Depends, FastAPI, Header, HTTPException, Query
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app import pharmacy
from app.db import AuditLog, Patient, Prescription, engine, get_session, search_query


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": self.formatTime(record), "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        for key in ("rx_id", "patient_id", "attempt"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(JsonFormatter())
logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), handlers=[handler])
logger = logging.getLogger("telehealth")

ADMIN_TOKEN = os.environ["ADMIN_TOKEN"]
ALLOWED_ORIGINS = [o for o in os.environ.get("ALLOWED_ORIGINS", "").split(",") if o]


@asynccontextmanager
async def lifespan(app: FastAPI):
    yield
    await pharmacy.aclose()
    await engine.dispose()


app = FastAPI(title="Telehealth Prescriptions", lifespan=lifespan)
app.add_middleware(
    CORSMiddleware,
    allow_origins=ALLOWED_ORIGINS,
    allow_credentials=True,
    allow_methods=["GET", "POST", "DELETE"],
    allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
)


def require_admin(x_admin_token: str = Header(...)) -> None:
    if not hmac.compare_digest(x_admin_token, ADMIN_TOKEN):
        raise HTTPException(status_code=403, detail="forbidden")


class PrescriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient_id: int = Field(gt=0)
    doctor_id: int = Field(gt=0)
    drug_name: str = Field(min_length=1, max_length=200)
    dosage: str = Field(min_length=1, max_length=100)
    quantity: int = Field(gt=0, le=365)
    refills: int = Field(default=0, ge=0, le=12)
    notes: str = Field(default="", max_length=2000)


class PrescriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    patient_id: int
    doctor_id: int
    drug_name: str
    dosage: str
    quantity: int
    refills_remaining: int
    status: str
    pharmacy_order_id: str | None
    created_at: datetime | None


class PatientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    full_name: str


class PatientPrescriptionsOut(BaseModel):
    patient: PatientOut
    prescriptions: list[PrescriptionOut]


async def _get_rx(session: AsyncSession, rx_id: int, lock: bool = False) -> Prescription:
    stmt = select(Prescription).where(Prescription.id == rx_id)
    if lock:
        stmt = stmt.with_for_update()
    rx = (await session.execute(stmt)).scalar_one_or_none()
    if rx is None:
        raise HTTPException(status_code=404, detail="prescription not found")
    return rx


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}


@app.get("/readyz")
async def readyz(session: AsyncSession = Depends(get_session)):
    try:
        await session.execute(text("SELECT 1"))
    except Exception:
        logger.exception("readiness check failed")
        raise HTTPException(status_code=503, detail="database unavailable")
    return {"status": "ready"}


@app.post("/prescriptions", response_model=PrescriptionOut, status_code=201)
async def create_prescription(body: PrescriptionIn, session: AsyncSession = Depends(get_session)):
    formulary = await pharmacy.check_formulary(body.drug_name)
    if not formulary.get("covered", False):
        raise HTTPException(status_code=422, detail="drug not covered by formulary")
    rx = Prescription(
        patient_id=body.patient_id,
        doctor_id=body.doctor_id,
        drug_name=body.drug_name,
        dosage=body.dosage,
        quantity=body.quantity,
        refills_remaining=body.refills,
        notes=body.notes,
    )
    session.add(rx)
    await session.commit()
    await session.refresh(rx)
    return rx


@app.post("/prescriptions/{rx_id}/send", response_model=PrescriptionOut)
async def send_to_pharmacy(rx_id: int, session: AsyncSession = Depends(get_session)):
    async with session.begin():
        rx = await _get_rx(session, rx_id, lock=True)
        if rx.status != "draft":
            raise HTTPException(status_code=409, detail=f"prescription already {rx.status}")
        patient = await session.get(Patient, rx.patient_id)
        try:
            result = await pharmacy.send_order(rx, patient, idempotency_key=f"rx-{rx.id}-send")
        except pharmacy.PharmacyError:
            logger.exception("pharmacy send failed", extra={"rx_id": rx.id})
            raise HTTPException(status_code=502, detail="pharmacy unavailable, retry later")
        rx.status = "sent"
        rx.pharmacy_order_id = result["order_id"]
        session.add(AuditLog(prescription_id=rx.id, action="sent"))
    return rx


@app.post("/prescriptions/{rx_id}/refill", response_model=PrescriptionOut)
async def refill(
    rx_id: int,
    idempotency_key: str = Header(..., alias="Idempotency-Key", min_length=8, max_length=100),
    session: AsyncSession = Depends(get_session),
):
    async with session.begin():
        rx = await _get_rx(session, rx_id, lock=True)
        if rx.refills_remaining <= 0:
            raise HTTPException(status_code=409, detail="no refills left")
        patient = await session.get(Patient, rx.patient_id)
        try:
            await pharmacy.send_order(rx, patient, idempotency_key=f"rx-{rx.id}-refill-{idempotency_key}")
        except pharmacy.PharmacyError:
            logger.exception("pharmacy refill failed", extra={"rx_id": rx.id})
            raise HTTPException(status_code=502, detail="pharmacy unavailable, retry later")
        rx.refills_remaining -= 1
        session.add(AuditLog(prescription_id=rx.id, action="refill"))
    return rx


@app.get("/prescriptions", response_model=list[PrescriptionOut])
async def list_prescriptions(
    drug: str | None = Query(default=None, max_length=100),
    status: str | None = Query(default=None, pattern="^(draft|sent|cancelled)$"),
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=100_000),
    session: AsyncSession = Depends(get_session),
):
    result = await session.execute(search_query(drug, status, limit, offset))
    return result.scalars().all()


@app.get("/patients/{patient_id}/prescriptions", response_model=PatientPrescriptionsOut)
async def patient_prescriptions(patient_id: int, session: AsyncSession = Depends(get_session)):
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise HTTPException(status_code=404, detail="patient not found")
    logger.info("loading prescriptions", extra={"patient_id": patient_id})
    result = await session.execute(
        select(Prescription).where(Prescription.patient_id == patient_id).order_by(Prescription.id).limit(500)
    )
    return {"patient": patient, "prescriptions": result.scalars().all()}


@app.get("/prescriptions/{rx_id}/label")
async def label(rx_id: int, session: AsyncSession = Depends(get_session)):
    rx = await _get_rx(session, rx_id)
    if not rx.pharmacy_order_id:
        raise HTTPException(status_code=409, detail="prescription not yet sent to pharmacy")
    try:
        content = await pharmacy.fetch_label(rx.pharmacy_order_id)
    except Exception:
        logger.exception("label fetch failed", extra={"rx_id": rx_id})
        raise HTTPException(status_code=502, detail="label unavailable")
    return Response(content=content, media_type="application/pdf")


@app.delete("/admin/prescriptions/{rx_id}", dependencies=[Depends(require_admin)])
async def admin_delete(rx_id: int, session: AsyncSession = Depends(get_session)):
    async with session.begin():
        rx = await _get_rx(session, rx_id, lock=True)
        await session.delete(rx)
        session.add(AuditLog(prescription_id=rx_id, action="deleted"))
    logger.info("prescription deleted", extra={"rx_id": rx_id})
    return {"deleted": rx_id}
