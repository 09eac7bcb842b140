"""Unit tests of the production-grade service, in-process with FastAPI's TestClient."""

from pathlib import Path

import app as service
import pytest
from fastapi.testclient import TestClient


@pytest.fixture()
def client(tmp_path: Path):
    settings = service.Settings(
        gateway_url="http://127.0.0.1:9", database_path=str(tmp_path / "t.db")
    )
    with TestClient(service.create_app(settings)) as test_client:
        yield test_client


def test_liveness_does_not_depend_on_the_gateway(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200


def test_readiness_reports_an_unreachable_gateway(client: TestClient) -> None:
    assert client.get("/readyz").status_code == 503


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"amount": -5, "currency": "USD", "account": "a"},
        {"amount": 10**30, "currency": "USD", "account": "a"},
        {"amount": 5, "currency": "usd", "account": "a"},
        {"amount": "5", "currency": "USD", "account": None},
    ],
)
def test_invalid_payments_are_rejected_with_422(client: TestClient, body: dict) -> None:
    assert client.post("/payments", json=body).status_code == 422


def test_oversized_bodies_get_413(client: TestClient) -> None:
    response = client.post(
        "/payments", content=b"x" * (128 * 1024), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_debits_are_atomic_and_bounded(client: TestClient) -> None:
    assert client.post("/accounts", json={"id": "acc-1", "balance": 10}).status_code == 201
    assert client.post("/accounts/acc-1/debit", json={"amount": 4}).json()["balance"] == 6
    assert client.post("/accounts/acc-1/debit", json={"amount": 7}).status_code == 409
    assert client.get("/accounts/acc-1").json()["balance"] == 6
    assert client.get("/accounts/nobody").status_code == 404


def test_request_ids_are_echoed_and_generated(client: TestClient) -> None:
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    assert client.get("/healthz").headers["x-request-id"]


def test_metrics_are_exposed(client: TestClient) -> None:
    client.get("/healthz")
    text = client.get("/metrics").text
    assert "http_requests_total" in text
    assert "http_request_duration_seconds" in text


def test_an_unreachable_gateway_is_a_fast_503(client: TestClient) -> None:
    response = client.post("/payments", json={"amount": 100, "currency": "USD", "account": "acc-1"})
    assert response.status_code in (502, 503, 504)
