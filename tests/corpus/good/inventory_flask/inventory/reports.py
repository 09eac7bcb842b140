import csv
import io
import logging
import tempfile
import uuid

from botocore.exceptions import BotoCoreError, ClientError
from flask import Blueprint, abort, current_app, jsonify, redirect, request
from sqlalchemy import select

from inventory.models import Item, Warehouse, db
from inventory.schemas import ExportSchema

logger = logging.getLogger(__name__)
reports_bp = Blueprint("reports", __name__)

MAX_EXPORT_ROWS = 100_000
ALLOWED_IMPORT_TYPES = frozenset({"text/csv", "application/vnd.ms-excel"})


def _s3():
    return current_app.extensions["s3"]


@reports_bp.post("/reports/exports")
def export_report():
    params = ExportSchema().load(request.get_json(silent=True) or {})
    warehouse_id = params["warehouse_id"]
    db.get_or_404(Warehouse, warehouse_id)
    rows = db.session.execute(
        select(Item.sku, Item.name, Item.stock)
        .where(Item.warehouse_id == warehouse_id)
        .order_by(Item.id)
        .limit(MAX_EXPORT_ROWS + 1)
        .execution_options(yield_per=1000)
    )
    report_id = str(uuid.uuid4())
    # Reports go to object storage, not the pod's disk: any replica can serve the download.
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as buffer:
        text = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(["sku", "name", "stock"])
        for count, row in enumerate(rows, start=1):
            if count > MAX_EXPORT_ROWS:
                return jsonify({"error": {"code": "export_too_large"}}), 422
            writer.writerow(row)
        text.flush()
        buffer.seek(0)
        try:
            _s3().upload_fileobj(
                buffer, current_app.config["REPORTS_BUCKET"], f"exports/{report_id}.csv"
            )
        except (BotoCoreError, ClientError):
            logger.exception("report upload failed", extra={"warehouse_id": warehouse_id})
            return jsonify({"error": {"code": "storage_unavailable"}}), 503
        text.detach()
    return jsonify({"report_id": report_id}), 201


@reports_bp.get("/reports/exports/<uuid:report_id>")
def download_report(report_id: uuid.UUID):
    # The key is built from a parsed UUID: no client-controlled path reaches storage.
    url = _s3().generate_presigned_url(
        "get_object",
        Params={"Bucket": current_app.config["REPORTS_BUCKET"], "Key": f"exports/{report_id}.csv"},
        ExpiresIn=300,
    )
    return redirect(url, code=303)


@reports_bp.post("/imports")
def upload_import():
    upload = request.files.get("file")
    if upload is None:
        abort(400)
    if upload.mimetype not in ALLOWED_IMPORT_TYPES:
        abort(415)
    import_id = str(uuid.uuid4())
    try:
        # Streamed to object storage; MAX_CONTENT_LENGTH bounds the request size.
        _s3().upload_fileobj(
            upload.stream,
            current_app.config["REPORTS_BUCKET"],
            f"imports/{import_id}.csv",
            ExtraArgs={"ContentType": "text/csv"},
        )
    except (BotoCoreError, ClientError):
        logger.exception("import upload failed")
        return jsonify({"error": {"code": "storage_unavailable"}}), 503
    logger.info("import received", extra={"import_id": import_id})
    return jsonify({"import_id": import_id}), 202
