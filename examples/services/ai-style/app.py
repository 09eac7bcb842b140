"""Payments API - the deliberately naive example for ``prodready probe``.

This is the "happy path" version of the service in ../production/app.py, written the way a coding assistant
often writes a first draft: it is tidy and works in a demo. ``prodready probe`` is expected to
find what goes wrong with it under production conditions.

Run it with ``python app.py`` (env: PORT, default 8000; GATEWAY_URL, the payment gateway).
"""

import asyncio
import os
import signal
import time
import uuid
from contextlib import asynccontextmanager
from datetime import datetime

import requests
import uvicorn
from fastapi import FastAPI, HTTPException, Request

GATEWAY_URL = os.environ.get("GATEWAY_URL", "http://127.0.0.1:5555")
PORT = int(os.environ.get("PORT", "8000"))

# In-memory storage
payments = {}
accounts = {}
audit_trail = []

PAYMENT_SCHEMA = {
    "type": "object",
    "required": ["amount", "currency", "account"],
    "properties": {
        "amount": {"type": "integer", "example": 1000},
        "currency": {"type": "string", "example": "EUR"},
        "account": {"type": "string", "example": "acct-1"},
    },
}
ACCOUNT_SCHEMA = {
    "type": "object",
    "required": ["id", "balance"],
    "properties": {
        "id": {"type": "string", "example": "acct-1"},
        "balance": {"type": "integer", "example": 10000},
    },
}
DEBIT_SCHEMA = {
    "type": "object",
    "required": ["amount"],
    "properties": {"amount": {"type": "integer", "example": 100}},
}


def json_body(schema):
    """Document a JSON request body in the OpenAPI spec."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


RECEIPT_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Payment receipt {payment_id}</title>
  <style>
    body {{ font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, Helvetica, Arial,
           sans-serif; background: #f6f9fc; color: #32325d; margin: 0; padding: 40px 0; }}
    .receipt {{ max-width: 560px; margin: 0 auto; background: #ffffff; border-radius: 8px;
               box-shadow: 0 2px 5px rgba(50, 50, 93, 0.1), 0 1px 2px rgba(0, 0, 0, 0.08); }}
    .header {{ padding: 32px 40px; border-bottom: 1px solid #e6ebf1; }}
    .header h1 {{ font-size: 20px; font-weight: 600; margin: 0 0 4px 0; }}
    .header p {{ font-size: 14px; color: #8898aa; margin: 0; }}
    .amount {{ padding: 24px 40px; font-size: 36px; font-weight: 300; letter-spacing: -0.5px; }}
    .details {{ padding: 0 40px 24px 40px; }}
    .details table {{ width: 100%; border-collapse: collapse; font-size: 14px; }}
    .details td {{ padding: 10px 0; border-bottom: 1px solid #e6ebf1; }}
    .details td.label {{ color: #8898aa; text-transform: uppercase; font-size: 12px;
                        letter-spacing: 0.5px; width: 40%; }}
    .details td.value {{ text-align: right; font-family: Menlo, Monaco, Consolas, monospace; }}
    .status {{ display: inline-block; padding: 2px 8px; border-radius: 4px; font-size: 12px;
              background: #cbf4c9; color: #0e6245; font-weight: 600; }}
    .footer {{ padding: 24px 40px; font-size: 12px; color: #8898aa; line-height: 1.6;
              border-top: 1px solid #e6ebf1; }}
    .footer a {{ color: #556cd6; text-decoration: none; }}
    @media only screen and (max-width: 600px) {{
      .receipt {{ border-radius: 0; box-shadow: none; }}
      .header, .amount, .details, .footer {{ padding-left: 20px; padding-right: 20px; }}
    }}
  </style>
</head>
<body>
  <div class="receipt">
    <div class="header">
      <h1>Receipt from Example Payments Ltd.</h1>
      <p>Receipt #{payment_id} &middot; {created_at}</p>
    </div>
    <div class="amount">{amount_formatted} {currency}</div>
    <div class="details">
      <table>
        <tr><td class="label">Payment ID</td><td class="value">{payment_id}</td></tr>
        <tr><td class="label">Charge ID</td><td class="value">{charge_id}</td></tr>
        <tr><td class="label">Account</td><td class="value">{account}</td></tr>
        <tr><td class="label">Amount</td><td class="value">{amount_formatted} {currency}</td></tr>
        <tr><td class="label">Status</td><td class="value"><span class="status">{status}</span>
        </td></tr>
        <tr><td class="label">Date</td><td class="value">{created_at}</td></tr>
        <tr><td class="label">Request</td><td class="value">{request_summary}</td></tr>
      </table>
    </div>
    <div class="footer">
      <p>If you have any questions about this receipt, contact us at
      <a href="mailto:support@example.com">support@example.com</a> or call +1 555 0100.</p>
      <p>Example Payments Ltd. &middot; 1 Market Street &middot; San Francisco, CA 94105</p>
      <p>You are receiving this email because you made a purchase at Example Payments Ltd.
      Amounts are shown in the currency of the charge. Refunds take 5-10 business days to
      appear on your statement, depending on your bank. Keep this receipt for your records.
      This receipt was generated automatically; please do not reply to this message.</p>
      <p>Gateway response: {gateway_response}</p>
      <p>Request headers: {request_headers}</p>
    </div>
  </div>
</body>
</html>
"""


TEXT_RECEIPT_TEMPLATE = """Receipt from Example Payments Ltd.
==================================

Receipt #{payment_id}
Date:       {created_at}

Amount:     {amount_formatted} {currency}
Account:    {account}
Charge ID:  {charge_id}
Status:     {status}

If you have any questions about this receipt, contact us at support@example.com or call
+1 555 0100. Refunds take 5-10 business days to appear on your statement, depending on
your bank. Keep this receipt for your records.

Example Payments Ltd. - 1 Market Street - San Francisco, CA 94105

Gateway response: {gateway_response}
Request headers: {request_headers}
"""


def render_receipt(payment, gateway_response, headers, template=RECEIPT_TEMPLATE):
    return template.format(
        payment_id=payment["id"],
        charge_id=payment["charge_id"],
        account=payment["account"],
        currency=payment["currency"],
        amount_formatted=f"{payment['amount'] / 100:,.2f}",
        status=payment["status"],
        created_at=payment["created_at"],
        request_summary=f"{payment['amount']} {payment['currency']} for {payment['account']}",
        gateway_response=gateway_response,
        request_headers=headers,
    )


def shutdown(signum, frame):
    print("Received shutdown signal, exiting...")
    os._exit(0)


@asynccontextmanager
async def lifespan(app):
    print(f"Payments service starting, gateway at {GATEWAY_URL}")
    # Exit immediately when the container is stopped, so deploys are fast.
    signal.signal(signal.SIGTERM, shutdown)
    yield
    print("Payments service stopped")


app = FastAPI(title="Payments API", version="1.0.0", lifespan=lifespan)


@app.middleware("http")
async def log_requests(request: Request, call_next):
    start = time.time()
    response = await call_next(request)
    elapsed = (time.time() - start) * 1000
    print(
        f"[{datetime.now()}] {request.method} {request.url.path} -> "
        f"{response.status_code} ({elapsed:.1f}ms)"
    )
    return response


def charge_card(amount, currency, account):
    """Charge the card through the payment gateway, retrying on failure."""
    for attempt in range(3):
        try:
            response = requests.post(
                f"{GATEWAY_URL}/charges",
                json={"amount": amount, "currency": currency, "account": account},
            )
            if response.ok:
                return response.json()
            print(f"Gateway returned {response.status_code}, retrying (attempt {attempt + 1})")
        except Exception as e:
            print(f"Gateway error: {e}, retrying (attempt {attempt + 1})")
        time.sleep(1)
    raise HTTPException(status_code=500, detail="Payment processing failed")


async def record_ledger_entry(account_id, amount):
    """Write the movement to the ledger service (simulated)."""
    await asyncio.sleep(0.01)


@app.get("/health")
async def health():
    requests.get(f"{GATEWAY_URL}/health")
    return {"status": "ok"}


@app.post("/payments", status_code=201, openapi_extra=json_body(PAYMENT_SCHEMA))
async def create_payment(request: Request):
    payload = await request.json()
    print(f"Creating payment: {payload}")

    charge = charge_card(payload["amount"], payload["currency"], payload["account"])

    payment = {
        "id": f"pay_{uuid.uuid4().hex[:16]}",
        "charge_id": charge["id"],
        "amount": payload["amount"],
        "currency": payload["currency"],
        "account": payload["account"],
        "status": charge["status"],
        "created_at": datetime.now().isoformat(),
    }
    payments[payment["id"]] = payment

    headers = dict(request.headers)
    audit_trail.append(
        {
            "payment_id": payment["id"],
            "timestamp": datetime.now().isoformat(),
            "request": payload,
            "headers": headers,
            "gateway_response": charge,
            "receipt_html": render_receipt(payment, charge, headers),
            "receipt_text": render_receipt(payment, charge, headers, TEXT_RECEIPT_TEMPLATE),
        }
    )

    return {
        key: payment[key] for key in ("id", "charge_id", "amount", "currency", "account", "status")
    }


@app.get("/payments/{payment_id}")
async def get_payment(payment_id: str):
    payment = payments[payment_id]
    return {
        key: payment[key] for key in ("id", "charge_id", "amount", "currency", "account", "status")
    }


@app.post("/accounts", status_code=201, openapi_extra=json_body(ACCOUNT_SCHEMA))
async def create_account(request: Request):
    payload = await request.json()
    account = {"id": payload["id"], "balance": payload["balance"]}
    accounts[account["id"]] = account
    print(f"Created account {account['id']} with balance {account['balance']}")
    return account


@app.get("/accounts/{account_id}")
async def get_account(account_id: str):
    return accounts[account_id]


@app.post("/accounts/{account_id}/debit", openapi_extra=json_body(DEBIT_SCHEMA))
async def debit_account(account_id: str, request: Request):
    payload = await request.json()
    amount = payload["amount"]

    account = accounts[account_id]
    balance = account["balance"]
    if balance < amount:
        raise HTTPException(status_code=400, detail="Insufficient funds")

    await record_ledger_entry(account_id, -amount)

    account["balance"] = balance - amount
    print(f"Debited {amount} from {account_id}, new balance {account['balance']}")
    return account


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT)
