import csv
import io
import logging
import time
from decimal import Decimal, InvalidOperation

import requests
from defusedxml import ElementTree as SafeET
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from models import Dispensation, Drug, PurchaseOrder, SessionLocal

log = logging.getLogger("pharmacy.inventory")

MAX_IMPORT_ROWS = 20000
SEARCH_LIMIT = 100


class InsufficientStock(Exception):
    pass


class CatalogueError(ValueError):
    pass


def search_drugs(db, term, in_stock_only=False):
    stmt = select(Drug.id, Drug.sku, Drug.name, Drug.stock, Drug.unit_price)
    if term:
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Drug.name.ilike(f"%{escaped}%", escape="\\"))
    if in_stock_only:
        stmt = stmt.where(Drug.stock > 0)
    rows = db.execute(stmt.order_by(Drug.name).limit(SEARCH_LIMIT))
    return [{**row._asdict(), "unit_price": str(row.unit_price)} for row in rows]


def dispense(db, drug_id, quantity, prescription_ref, patient_name, user_id):
    """Atomically decrement stock, record the dispensation and open a reorder if needed. Returns (stock, po_id)."""
    with db.begin():
        remaining = db.scalar(
            update(Drug)
            .where(Drug.id == drug_id, Drug.stock >= quantity)
            .values(stock=Drug.stock - quantity)
            .returning(Drug.stock)
        )
        if remaining is None:
            if db.get(Drug, drug_id) is None:
                raise LookupError("unknown drug")
            raise InsufficientStock()
        record = Dispensation(drug_id=drug_id, quantity=quantity, prescription_ref=prescription_ref,
                              patient_name=patient_name, dispensed_by=user_id)
        db.add(record)
        drug = db.get(Drug, drug_id)
        po_id = None
        if remaining < drug.reorder_level:
            po_id = open_purchase_order(db, drug)
    log.info("dispensed dispensation_id=%s drug_id=%s quantity=%s user_id=%s", record.id, drug_id, quantity, user_id)
    return remaining, po_id


def open_purchase_order(db, drug):
    """Create the pending PO inside the caller's transaction; the partial unique index rejects duplicates."""
    try:
        with db.begin_nested():
            order = PurchaseOrder(drug_id=drug.id, quantity=drug.reorder_quantity, status="pending")
            db.add(order)
            db.flush()
            return order.id
    except IntegrityError:
        log.info("purchase order already open drug_id=%s", drug.id)
        return None


def submit_purchase_order(po_id, api_url, api_key, attempts=3, timeout=(3, 10)):
    """Send a pending PO to the supplier. Safe to call repeatedly: the PO id is the idempotency key."""
    with SessionLocal() as db:
        order = db.get(PurchaseOrder, po_id)
        if order is None or order.status not in ("pending", "submit_failed"):
            return order
        drug = db.get(Drug, order.drug_id)
        payload = {"sku": drug.sku, "quantity": order.quantity, "account": drug.supplier.account_number,
                   "client_reference": f"PO-{order.id}"}
        last_error = None
        for attempt in range(1, attempts + 1):
            try:
                resp = requests.post(api_url, json=payload, timeout=timeout,
                                     headers={"X-Api-Key": api_key, "Idempotency-Key": f"PO-{order.id}"})
                if resp.status_code < 500:
                    resp.raise_for_status()
                    order.supplier_ref = resp.json()["order_id"]
                    order.status = "submitted"
                    break
                last_error = f"supplier returned {resp.status_code}"
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_error = repr(exc)
            except (requests.HTTPError, KeyError, ValueError):
                log.exception("supplier rejected purchase order po_id=%s", order.id)
                last_error = "rejected"
                break
            time.sleep(min(2 ** attempt, 10))
        order.attempts += 1
        if order.status != "submitted":
            order.status = "submit_failed"
            log.error("purchase order submission failed po_id=%s error=%s", order.id, last_error)
        db.commit()
        return order


def parse_catalogue(filename, data: bytes):
    if filename.lower().endswith(".xml"):
        try:
            root = SafeET.fromstring(data)
        except SafeET.ParseError as exc:
            raise CatalogueError(f"invalid XML: {exc}") from None
        rows = [{"sku": i.findtext("sku"), "name": i.findtext("name"), "price": i.findtext("price")}
                for i in root.iter("item")]
    else:
        try:
            reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
            rows = [{"sku": r.get("sku"), "name": r.get("name"), "price": r.get("price")} for r in reader]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise CatalogueError(f"invalid CSV: {exc}") from None
    if len(rows) > MAX_IMPORT_ROWS:
        raise CatalogueError("too many rows")
    cleaned, errors = [], []
    for n, row in enumerate(rows, start=1):
        sku, name = (row["sku"] or "").strip(), (row["name"] or "").strip()
        try:
            price = Decimal((row["price"] or "").strip())
        except InvalidOperation:
            price = None
        if not sku or len(sku) > 40 or not name or len(name) > 200 or price is None or not 0 <= price < 100000:
            errors.append(n)
            continue
        cleaned.append({"sku": sku, "name": name, "price": price.quantize(Decimal("0.01"))})
    if errors:
        raise CatalogueError(f"invalid rows: {errors[:20]}")
    return cleaned


def import_catalogue(db, rows, supplier_id):
    with db.begin():
        existing = {d.sku: d for d in db.scalars(select(Drug).where(Drug.sku.in_([r["sku"] for r in rows])))}
        created = 0
        for row in rows:
            drug = existing.get(row["sku"])
            if drug:
                drug.unit_price, drug.name = row["price"], row["name"]
            else:
                db.add(Drug(sku=row["sku"], name=row["name"], unit_price=row["price"], supplier_id=supplier_id))
                created += 1
    return {"updated": len(rows) - created, "created": created}


def pending_purchase_orders(db, limit=100):
    return db.scalars(select(PurchaseOrder.id).where(PurchaseOrder.status.in_(("pending", "submit_failed")))
                      .order_by(PurchaseOrder.id).limit(limit)).all()
