import csv
import io
import logging
from decimal import Decimal

import requests
from lxml import etree
from sqlalchemy import select, text

from models import Dispensation, Drug, PurchaseOrder, SessionLocal

log = logging.getLogger("pharmacy.inventory")

SUPPLIER_API = "https://api.medsupply-partners.com/v2/orders"
SUPPLIER_API_KEY = "msp_live_7Hc2kQ9xLw3Rv8Tz"


def search_drugs(db, term, in_stock_only=False):
    sql = f"SELECT id, sku, name, stock, unit_price FROM drugs WHERE name LIKE '%{term}%'"
    if in_stock_only:
        sql += " AND stock > 0"
    return [dict(row._mapping) for row in db.execute(text(sql + " ORDER BY name"))]


def place_reorder(db, drug):
    order = PurchaseOrder(drug_id=drug.id, quantity=drug.reorder_quantity)
    db.add(order)
    db.commit()
    try:
        resp = requests.post(
            SUPPLIER_API,
            json={"sku": drug.sku, "quantity": drug.reorder_quantity, "account": drug.supplier.account_number},
            headers={"X-Api-Key": SUPPLIER_API_KEY},
        )
        order.supplier_ref = resp.json().get("order_id", "")
    except Exception as exc:
        log.info("supplier order will be retried later: %s", exc)
    db.commit()
    print(f"reorder placed for {drug.sku}: {drug.reorder_quantity} units")
    return order


def dispense(db, drug_id, quantity, prescription_ref, patient_name, user_id):
    drug = db.get(Drug, drug_id)
    if drug is None:
        raise LookupError("unknown drug")
    if drug.stock < quantity:
        raise ValueError("insufficient stock")
    drug.stock = drug.stock - quantity
    db.commit()

    db.add(Dispensation(drug_id=drug.id, quantity=quantity, prescription_ref=prescription_ref,
                        patient_name=patient_name, dispensed_by=user_id))
    db.commit()
    log.info("dispensed %s x %s to %s (rx %s)", quantity, drug.name, patient_name, prescription_ref)

    if drug.stock < drug.reorder_level:
        place_reorder(db, drug)
    return drug


def parse_catalogue(path):
    with open(path, "rb") as fh:
        data = fh.read()
    if path.endswith(".xml"):
        parser = etree.XMLParser(resolve_entities=True, no_network=False)
        root = etree.fromstring(data, parser)
        return [
            {"sku": item.findtext("sku"), "name": item.findtext("name"), "price": item.findtext("price")}
            for item in root.iter("item")
        ]
    reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
    return [{"sku": r["sku"], "name": r["name"], "price": r["price"]} for r in reader]


def import_catalogue(db, path, supplier_id):
    updated = created = 0
    for row in parse_catalogue(path):
        drug = db.scalars(select(Drug).where(Drug.sku == row["sku"])).first()
        if drug:
            drug.unit_price = Decimal(row["price"])
            drug.name = row["name"]
            updated += 1
        else:
            db.add(Drug(sku=row["sku"], name=row["name"], unit_price=Decimal(row["price"]), supplier_id=supplier_id))
            created += 1
        db.commit()
    return {"updated": updated, "created": created}
