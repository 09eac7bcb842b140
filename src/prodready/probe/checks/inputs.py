"""``malformed-input`` and ``payload-limit``: what the service does with input nobody intended."""

from __future__ import annotations

import select
import socket
import time
from typing import Any

from prodready.probe.checks.base import MUTATING, failed, passed, skipped
from prodready.probe.context import ProbeContext
from prodready.probe.endpoints import is_infrastructure, operations
from prodready.probe.model import CheckResult

_FUZZ_TIME_S = 60.0


def malformed_input(ctx: ProbeContext) -> CheckResult:
    if ctx.openapi is None:
        return skipped(
            "malformed-input",
            "no OpenAPI document (give --openapi, or serve /openapi.json) to generate inputs from",
        )
    from prodready.probe.fuzz import fuzz

    excluded = sorted({path for _, path, _ in operations(ctx.openapi) if is_infrastructure(path)})
    outcome = fuzz(
        ctx.openapi,
        ctx.base_url,
        max_examples=ctx.settings.fuzz_examples,
        deadline=time.monotonic() + ctx.bounded(_FUZZ_TIME_S),
        request_timeout=min(ctx.settings.request_timeout_s, 5.0),
        exclude_paths=excluded,
    )
    evidence: dict[str, Any] = {
        "operations": len(outcome.operations),
        "requests": outcome.requests,
        "statuses": outcome.statuses,
    }
    if outcome.skipped:
        evidence["not_generated"] = outcome.skipped[:5]
    if outcome.truncated:
        evidence["truncated"] = "stopped at the time limit"
    crashed = not ctx.alive()
    if crashed:
        evidence["service_exit_code"] = ctx.service.exit_code()
        evidence["service_output"] = ctx.service.tail(10)
    if outcome.failures:
        evidence["failures"] = [
            {
                "operation": failure.operation,
                "kind": failure.kind,
                "status": failure.status,
                "detail": failure.detail,
                "reproduce": failure.curl,
            }
            for failure in outcome.failures[:8]
        ]
        operations_hit = sorted({failure.operation for failure in outcome.failures})
        return failed(
            "malformed-input",
            f"{len(outcome.failures)} failing input(s) on {', '.join(operations_hit[:4])}: "
            f"5xx, hang or crash instead of a 4xx",
            **evidence,
        )
    if crashed:
        return failed("malformed-input", "the service exited while being fuzzed", **evidence)
    if not outcome.operations:
        return skipped(
            "malformed-input", "the OpenAPI document has no operation to fuzz", **evidence
        )
    return passed(
        "malformed-input",
        f"{outcome.requests} generated requests over {len(outcome.operations)} operations: no 5xx",
        **evidence,
    )


def payload_limit(ctx: ProbeContext) -> CheckResult:
    target = next((spec for spec in ctx.candidates if spec.method in MUTATING), None)
    if target is None:
        target_path = next(
            (
                (method, path)
                for method, path, operation in operations(ctx.openapi)
                if method in MUTATING and "requestBody" in operation and "{" not in path
            ),
            None,
        )
        if target_path is None:
            return skipped("payload-limit", "no operation takes a request body")
        method, path = target_path
    else:
        method, path = target.method, target.path
    size = ctx.settings.payload_size
    rss_before = ctx.service.rss_bytes()
    status, sent, elapsed, error = _send_oversized(ctx, method, path, size)
    rss_after = ctx.service.rss_bytes()
    evidence: dict[str, Any] = {
        "request": f"{method} {path}",
        "body_bytes": size,
        "sent_bytes_before_answer": sent,
        "status": status,
        "elapsed_ms": round(elapsed * 1000, 1),
        "rss_growth_mb": round((rss_after - rss_before) / 1024**2, 1),
    }
    if error:
        evidence["error"] = error
    if status == 413:
        return passed(
            "payload-limit",
            f"a {size / 1024**2:.0f} MiB body got 413 after {sent / 1024:.0f} KiB were sent",
            **evidence,
        )
    if status is None:
        reason = f"no answer to a {size / 1024**2:.0f} MiB body ({error})"
    elif status >= 500:
        reason = f"a {size / 1024**2:.0f} MiB body got {status} instead of 413"
    else:
        reason = (
            f"a {size / 1024**2:.0f} MiB body was read whole and answered {status}: "
            "there is no request size limit, so memory per request is unbounded"
        )
    if not ctx.alive():
        reason += "; the service exited"
        evidence["service_exit_code"] = ctx.service.exit_code()
    return failed("payload-limit", reason, **evidence)


def _send_oversized(
    ctx: ProbeContext, method: str, path: str, size: int
) -> tuple[int | None, int, float, str | None]:
    """Stream a ``size``-byte JSON body, stopping as soon as the service answers.

    A raw socket rather than an HTTP client: a service that rejects early answers 413 and
    closes while the client is still sending, and most clients then report a broken pipe
    instead of the answer.
    """
    chunk = b"x" * 65536
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{ctx.service.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {size}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    body_prefix, body_suffix = b'{"payload": "', b'"}'
    filler = size - len(body_prefix) - len(body_suffix)
    started = time.monotonic()
    deadline = started + ctx.bounded(ctx.settings.request_timeout_s + 10)
    sent = 0
    error = None
    with socket.create_connection(("127.0.0.1", ctx.service.port), timeout=5.0) as conn:
        try:
            conn.sendall(head + body_prefix)
            while filler > 0 and time.monotonic() < deadline:
                readable, _, _ = select.select([conn], [], [], 0)
                if readable:
                    break  # the service answered before the body was complete
                piece = chunk[: min(len(chunk), filler)]
                conn.sendall(piece)
                sent += len(piece)
                filler -= len(piece)
            if filler <= 0:
                conn.sendall(body_suffix)
        except OSError as exc:
            error = exc.strerror or type(exc).__name__
        status = _read_status(conn, deadline)
    if status is not None:
        error = None
    elif error is None:
        error = "timeout" if time.monotonic() >= deadline else "connection closed without an answer"
    return status, sent, time.monotonic() - started, error


def _read_status(conn: socket.socket, deadline: float) -> int | None:
    data = b""
    while b"\r\n" not in data and time.monotonic() < deadline:
        conn.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            piece = conn.recv(4096)
        except OSError:
            break
        if not piece:
            break
        data += piece
    parts = data.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None
