import logging
import os
from functools import wraps

import click
from flask import Flask, abort, jsonify, redirect, request, url_for
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from sqlalchemy import text
from werkzeug.security import check_password_hash

from inventory import (CatalogueError, InsufficientStock, dispense, import_catalogue, open_purchase_order,
                       parse_catalogue, pending_purchase_orders, search_drugs, submit_purchase_order)
from models import Drug, SessionLocal, User

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
log = logging.getLogger("pharmacy")


def load_config(app):
    required = ("PHARMACY_SECRET_KEY", "PHARMACY_SUPPLIER_API_URL", "PHARMACY_SUPPLIER_API_KEY")
    missing = [k for k in required if not os.environ.get(k)]
    if missing:
        raise RuntimeError(f"missing configuration: {', '.join(missing)}")
    if len(os.environ["PHARMACY_SECRET_KEY"]) < 32:
        raise RuntimeError("PHARMACY_SECRET_KEY must be at least 32 characters")
    if not os.environ["PHARMACY_SUPPLIER_API_URL"].startswith("https://"):
        raise RuntimeError("PHARMACY_SUPPLIER_API_URL must use https")
    app.config.update(
        SECRET_KEY=os.environ["PHARMACY_SECRET_KEY"],
        SUPPLIER_API_URL=os.environ["PHARMACY_SUPPLIER_API_URL"],
        SUPPLIER_API_KEY=os.environ["PHARMACY_SUPPLIER_API_KEY"],
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=True,
        REMEMBER_COOKIE_HTTPONLY=True,
    )


app = Flask(__name__)
load_config(app)
login_manager = LoginManager(app)
login_manager.login_view = "login"


@login_manager.user_loader
def load_user(user_id):
    with SessionLocal() as db:
        return db.get(User, int(user_id))


def admin_required(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if current_user.role != "admin":
            log.warning("admin access denied user_id=%s path=%s", current_user.id, request.path)
            abort(403)
        return view(*args, **kwargs)
    return wrapper


def submit_orders(po_ids):
    for po_id in po_ids:
        submit_purchase_order(po_id, app.config["SUPPLIER_API_URL"], app.config["SUPPLIER_API_KEY"])


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.get("/readyz")
def readyz():
    try:
        with SessionLocal() as db:
            db.execute(text("SELECT 1"))
    except Exception:
        log.exception("readiness check failed")
        return jsonify(status="unavailable"), 503
    return jsonify(status="ready")


@app.post("/login")
def login():
    username, password = request.form.get("username", ""), request.form.get("password", "")
    with SessionLocal() as db:
        user = db.query(User).filter_by(username=username[:80]).first()
        if user and check_password_hash(user.password_hash, password):
            login_user(user)
            return redirect(url_for("drugs"))
    log.info("failed login")
    return jsonify(error="invalid credentials"), 401


@app.route("/logout")
@login_required
def logout():
    logout_user()
    return redirect(url_for("login"))


@app.get("/drugs")
@login_required
def drugs():
    term = request.args.get("q", "")[:100]
    with SessionLocal() as db:
        return jsonify(search_drugs(db, term, request.args.get("in_stock") == "1"))


@app.post("/dispense")
@login_required
def dispense_view():
    payload = request.get_json(silent=True) or {}
    try:
        drug_id = int(payload["drug_id"])
        quantity = int(payload["quantity"])
        rx = str(payload["prescription_ref"]).strip()
        patient = str(payload["patient_name"]).strip()
    except (KeyError, TypeError, ValueError):
        return jsonify(error="drug_id, quantity, prescription_ref and patient_name are required"), 400
    if not 1 <= quantity <= 1000 or not 0 < len(rx) <= 64 or not 0 < len(patient) <= 200:
        return jsonify(error="quantity must be 1-1000; prescription_ref/patient_name length invalid"), 400
    with SessionLocal() as db:
        try:
            remaining, po_id = dispense(db, drug_id, quantity, rx, patient, current_user.id)
        except LookupError:
            abort(404)
        except InsufficientStock:
            return jsonify(error="insufficient stock"), 409
    if po_id is not None:
        # PO is already persisted as 'pending'; a failed submission is retried by `flask retry-reorders`
        submit_orders([po_id])
    return jsonify(drug_id=drug_id, remaining=remaining, purchase_order_id=po_id)


@app.post("/admin/reorder/<int:drug_id>")
@admin_required
def admin_reorder(drug_id):
    with SessionLocal() as db:
        with db.begin():
            drug = db.get(Drug, drug_id) or abort(404)
            po_id = open_purchase_order(db, drug)
    if po_id is None:
        return jsonify(error="a purchase order for this drug is already open"), 409
    submit_orders([po_id])
    return jsonify(order_id=po_id), 202


@app.post("/admin/catalogue")
@admin_required
def admin_import_catalogue():
    upload = request.files.get("file")
    try:
        supplier_id = int(request.form["supplier_id"])
    except (KeyError, ValueError):
        return jsonify(error="supplier_id required"), 400
    if upload is None or not upload.filename.lower().endswith((".csv", ".xml")):
        return jsonify(error="a .csv or .xml file is required"), 400
    try:
        rows = parse_catalogue(upload.filename, upload.read())
    except CatalogueError as exc:
        return jsonify(error=str(exc)), 422
    with SessionLocal() as db:
        result = import_catalogue(db, rows, supplier_id)
    log.info("catalogue imported supplier_id=%s user_id=%s result=%s", supplier_id, current_user.id, result)
    return jsonify(result)


@app.errorhandler(500)
def internal_error(exc):
    log.exception("unhandled error path=%s", request.path)
    return jsonify(error="internal error"), 500


@app.cli.command("retry-reorders")
@click.option("--limit", default=100, type=click.IntRange(1, 1000))
def retry_reorders(limit):
    """Run from a CronJob: resubmit pending/failed purchase orders (idempotent per PO)."""
    with SessionLocal() as db:
        ids = pending_purchase_orders(db, limit)
    submit_orders(ids)
    log.info("retry-reorders processed=%s", len(ids))
