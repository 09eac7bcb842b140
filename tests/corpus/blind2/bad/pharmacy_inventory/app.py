import os

from flask import Flask, abort, jsonify, redirect, request, url_for
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from werkzeug.security import check_password_hash

from inventory import dispense, import_catalogue, place_reorder, search_drugs
from models import Drug, SessionLocal, User

app = Flask(__name__)
app.config["SECRET_KEY"] = "pharmacy-dev-secret-2024"
UPLOAD_DIR = "/tmp/catalogue_uploads"

login_manager = LoginManager(app)
login_manager.login_view = "login"


@login_manager.user_loader
def load_user(user_id):
    with SessionLocal() as db:
        return db.get(User, int(user_id))


@app.route("/login", methods=["POST"])
def login():
    with SessionLocal() as db:
        user = db.query(User).filter_by(username=request.form["username"]).first()
        if user and check_password_hash(user.password_hash, request.form["password"]):
            login_user(user, remember=True)
            return redirect(url_for("drugs"))
    return jsonify(error="invalid credentials"), 401


@app.route("/logout")
@login_required
def logout():
    logout_user()
    return redirect(url_for("login"))


@app.route("/drugs")
@login_required
def drugs():
    with SessionLocal() as db:
        return jsonify(search_drugs(db, request.args.get("q", ""), request.args.get("in_stock") == "1"))


@app.route("/dispense", methods=["POST"])
@login_required
def dispense_view():
    payload = request.get_json()
    with SessionLocal() as db:
        try:
            drug = dispense(db, payload["drug_id"], int(payload["quantity"]), payload["prescription_ref"],
                            payload["patient_name"], current_user.id)
        except LookupError:
            abort(404)
        except Exception as exc:
            return jsonify(error=str(exc)), 500
        return jsonify(drug_id=drug.id, remaining=drug.stock)


@app.route("/admin/reorder/<int:drug_id>", methods=["POST"])
@login_required
def admin_reorder(drug_id):
    with SessionLocal() as db:
        drug = db.get(Drug, drug_id) or abort(404)
        order = place_reorder(db, drug)
        return jsonify(order_id=order.id, supplier_ref=order.supplier_ref)


@app.route("/admin/catalogue", methods=["POST"])
@login_required
def admin_import_catalogue():
    upload = request.files["file"]
    os.makedirs(UPLOAD_DIR, exist_ok=True)
    path = os.path.join(UPLOAD_DIR, upload.filename)
    upload.save(path)
    with SessionLocal() as db:
        result = import_catalogue(db, path, int(request.form["supplier_id"]))
    return jsonify(result)


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000, debug=True)
