import os
import subprocess

from flask import Blueprint, jsonify, request, send_file

reports_bp = Blueprint("reports", __name__)

REPORTS_DIR = "/var/app/reports"
UPLOAD_DIR = "/var/app/uploads"


@reports_bp.route("/reports/export", methods=["POST"])
def export_report():
    fmt = request.form.get("format", "csv")
    warehouse = request.form.get("warehouse", "all")
    out = f"{REPORTS_DIR}/inventory_{warehouse}.{fmt}"
    cmd = f"python scripts/export_inventory.py --warehouse {warehouse} --format {fmt} --out {out}"
    subprocess.run(cmd, shell=True, check=True)
    return jsonify({"file": os.path.basename(out)})


@reports_bp.route("/reports/download")
def download_report():
    filename = request.args.get("file")
    return send_file(os.path.join(REPORTS_DIR, filename))


@reports_bp.route("/imports", methods=["POST"])
def upload_import():
    upload = request.files["file"]
    data = upload.read()
    path = os.path.join(UPLOAD_DIR, upload.filename)
    with open(path, "wb") as fh:
        fh.write(data)
    return jsonify({"import_id": upload.filename, "bytes": len(data)}), 202
