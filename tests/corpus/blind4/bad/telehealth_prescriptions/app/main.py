import logging

from fastapi import Depends, FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app import pharmacy
from app.db import AuditLog, Patient, Prescription, get_session, search_clause

logging.basicConfig(level=logging.INFO)
logger = logging.getLogger("telehealth")

app = FastAPI(title="Telehealth Prescriptions", debug=True)
app.add_middleware(
    CORSMiddleware,
    allow_origins=["*"],
    allow_credentials=True,
    allow_methods=["*"],
    allow_headers=["*"],
)


class PrescriptionIn(BaseModel):
    patient_id: int
    doctor_id: int
    drug_name: str
    dosage: str
    quantity: int
    refills: int = 0
    notes: str = ""


@app.post("/prescriptions")
async def create_prescription(body: PrescriptionIn, session: AsyncSession = Depends(get_session)):
    formulary = await pharmacy.check_formulary(body.drug_name)
    if not formulary.get("covered", True):
        logger.warning("drug not covered: %s", body.drug_name)
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
    return rx


@app.post("/prescriptions/{rx_id}/send")
async def send_to_pharmacy(rx_id: int, session: AsyncSession = Depends(get_session)):
    rx = await session.get(Prescription, rx_id)
    patient = await session.get(Patient, rx.patient_id)
    result = await pharmacy.send_order(rx, patient)
    rx.status = "sent"
    rx.pharmacy_order_id = result.get("order_id")
    await session.commit()
    session.add(AuditLog(prescription_id=rx.id, action="sent"))
    await session.commit()
    return {"ok": True, "order": result}


@app.post("/prescriptions/{rx_id}/refill")
async def refill(rx_id: int, session: AsyncSession = Depends(get_session)):
    rx = await session.get(Prescription, rx_id)
    if rx.refills_remaining <= 0:
        raise HTTPException(400, "no refills left")
    result = await pharmacy.send_order(rx, await session.get(Patient, rx.patient_id))
    rx.refills_remaining = rx.refills_remaining - 1
    await session.commit()
    return {"refills_remaining": rx.refills_remaining, "order": result}


@app.get("/prescriptions")
async def list_prescriptions(drug: str = "", status: str = "", session: AsyncSession = Depends(get_session)):
    rows = await session.execute(text(f"SELECT * FROM prescriptions WHERE {search_clause(drug, status)}"))
    return [dict(r._mapping) for r in rows]


@app.get("/patients/{patient_id}/prescriptions")
async def patient_prescriptions(patient_id: int, session: AsyncSession = Depends(get_session)):
    patient = await session.get(Patient, patient_id)
    logger.info("loading prescriptions for %s ssn=%s", patient.full_name, patient.ssn)
    result = await session.execute(select(Prescription).where(Prescription.patient_id == patient_id))
    return {"patient": patient, "prescriptions": result.scalars().all()}


@app.get("/prescriptions/{rx_id}/label")
async def label(rx_id: int, label_url: str):
    try:
        content = await pharmacy.fetch_label(label_url)
    except Exception:
        return Response(content=b"", media_type="application/pdf")
    return Response(content=content, media_type="application/pdf")


@app.delete("/admin/prescriptions/{rx_id}")
async def admin_delete(rx_id: int, session: AsyncSession = Depends(get_session)):
    rx = await session.get(Prescription, rx_id)
    await session.delete(rx)
    await session.commit()
    return {"deleted": rx_id}
