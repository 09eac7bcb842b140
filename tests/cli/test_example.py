"""The bundled example service demonstrates real defects across the catalog."""

from __future__ import annotations

from pathlib import Path

from prodready.model import Config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "payments-service"


def test_example_service_shows_the_defects_it_describes(run_scan) -> None:
    result = run_scan(EXAMPLE, config=Config())
    assert result.errors == []
    found = {(f.path, f.rule) for f in result.findings}
    for expected in [
        ("app/main.py", "SEC001"),  # SQL built with an f-string from request data
        ("app/main.py", "CON003"),  # refund without an idempotency key
        ("app/main.py", "PRF016"),  # blocking calls on the event loop
        ("app/main.py", "STA001"),  # module-level dict as a cart store
        ("app/main.py", "CFG009"),  # FastAPI(debug=True)
        ("app/main.py", "OBS001"),  # print logging
        ("app/billing.py", "RES001"),  # no timeout
        ("app/billing.py", "RES002"),  # retry without backoff
        ("app/billing.py", "RES003"),  # retry forever
        ("app/billing.py", "SEC004"),  # jwt without verification
        ("Dockerfile", "DKR003"),  # uvicorn --reload
        ("k8s/deployment.yaml", "K8S002"),  # no probes
        ("requirements.txt", "DEP001"),  # unpinned
    ]:
        assert expected in found, f"the example no longer shows {expected}"
    categories = {f.category.value for f in result.findings}
    assert len(categories) == 12
    assert result.failing(Config().fail_on)
