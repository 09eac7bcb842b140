"""The probe's checks: one function per stable check id, grouped by what they exercise.

A check takes the :class:`~prodready.probe.context.ProbeContext` and returns a
:class:`~prodready.probe.model.CheckResult`; it restores every fault it injected.
"""

from __future__ import annotations

from collections.abc import Callable

from prodready.probe.checks import (
    dependencies,
    health,
    inputs,
    load,
    observability,
    semantics,
    shutdown,
)
from prodready.probe.context import ProbeContext
from prodready.probe.model import CHECK_IDS, CheckResult

ProbeCheck = Callable[[ProbeContext], CheckResult]

CHECK_FUNCTIONS: dict[str, ProbeCheck] = {
    "readiness": health.readiness,
    "liveness": health.liveness,
    "request-id": observability.request_id,
    "metrics": observability.metrics,
    "malformed-input": inputs.malformed_input,
    "payload-limit": inputs.payload_limit,
    "idempotency": semantics.idempotency,
    "concurrency": semantics.concurrency,
    "dependency-latency": dependencies.dependency_latency,
    "dependency-outage": dependencies.dependency_outage,
    "load-latency": load.load_latency,
    "memory-growth": load.memory_growth,
    "rate-limit": load.rate_limit,
    "structured-logs": observability.structured_logs,
    "graceful-shutdown": shutdown.graceful_shutdown,
}
assert tuple(CHECK_FUNCTIONS) == CHECK_IDS, (
    "every check id has exactly one implementation, in order"
)
