"""RES007's tiers: botocore's default waits are finite, so a client whose calls are awaited
(aioboto3/aiobotocore) or one in a task-queue module serving no route is low; a sync client in
service code that serves requests stays medium."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from conftest import ScanFn

from prodready.model import Config


def test_res007_awaited_and_task_worker_clients_are_low(run_scan: ScanFn) -> None:
    directory = Path(__file__).parent / "fixtures" / "RES007"
    result = run_scan(directory, config=replace(Config(), select=("RES007",)))
    tiers = {(f.path, f.line): f.severity.value for f in result.findings}
    assert tiers == {
        ("storage.py", 14): "medium",
        ("storage.py", 15): "medium",
        ("storage.py", 16): "medium",
        ("storage.py", 18): "medium",
        ("storage.py", 37): "low",
        ("task_worker.py", 7): "low",
        # built inside a @shared_task in a Django module: low; the view's client: medium
        ("fp_client_in_task_function.py", 15): "low",
        ("fp_client_in_task_function.py", 21): "medium",
    }
