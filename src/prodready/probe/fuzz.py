"""Malformed-input fuzzing: Schemathesis-generated requests against a running service.

Schemathesis is used as a library: each operation of the OpenAPI document gets Hypothesis-drawn
cases in negative mode (data that violates the schema) and positive mode (data that fits it), and
every case is sent with a per-request timeout. A 5xx answer, a request timeout and a dropped
connection are failures; 4xx answers to bad input are exactly what a robust service does.

Nothing is shrunk and nothing is stored: runs are derandomized (the same schema gives the same
requests), Hypothesis' example database is off, and its cache directory is pointed at a temporary
directory for the run so no ``.hypothesis`` directory appears in the working directory.
Schemathesis and Hypothesis are imported inside :func:`fuzz` only.
"""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from prodready.probe.model import ProbeError

if TYPE_CHECKING:
    from schemathesis import APIOperation, Case, GenerationMode

    _Operation = APIOperation[Any, Any, Any, Any]
    _Case = Case[_Operation]

MAX_FAILURES_PER_OPERATION = 3
_DETAIL_CHARS = 200


@dataclass
class FuzzFailure:
    operation: str  # "POST /payments"
    kind: str  # "server_error" | "timeout" | "connection_error"
    status: int | None
    detail: str
    curl: str  # reproduces the request
    mode: str  # "negative" | "positive"

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "kind": self.kind,
            "status": self.status,
            "detail": self.detail,
            "curl": self.curl,
            "mode": self.mode,
        }


@dataclass
class FuzzOutcome:
    operations: list[str] = field(default_factory=list)  # tested
    requests: int = 0  # sent (answered, timed out or dropped)
    failures: list[FuzzFailure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "GET /x: reason"
    statuses: dict[str, int] = field(default_factory=dict)  # "2xx", "4xx", "5xx", ...
    truncated: bool = False  # the deadline ended the run early
    unsent: int = 0  # cases the HTTP client refused to send (e.g. a header it cannot encode)

    def to_dict(self) -> dict[str, Any]:
        return {
            "operations": self.operations,
            "requests": self.requests,
            "failures": [failure.to_dict() for failure in self.failures],
            "skipped": self.skipped,
            "statuses": self.statuses,
            "truncated": self.truncated,
            "unsent": self.unsent,
        }


class _DeadlineReached(Exception):
    """Raised inside the Hypothesis test to end generation when the run's deadline passes."""


def fuzz(
    schema: dict[str, Any],
    base_url: str,
    *,
    max_examples: int = 25,
    deadline: float,
    request_timeout: float = 5.0,
    headers: Mapping[str, str] | None = None,
    exclude_paths: Sequence[str] = (),
) -> FuzzOutcome:
    """Send negative and positive Schemathesis cases for every operation; collect 5xx/hangs.

    ``schema`` is an OpenAPI 2/3 document (not modified). ``base_url`` is the service root; when
    it has no path and the document declares a relative base path (``servers: [{url: /api}]``),
    that path is appended. ``max_examples`` bounds the cases per operation and mode;
    ``deadline`` is a :func:`time.monotonic` value for the whole run (checked before every
    request, so the run ends at most one ``request_timeout`` after it, with ``truncated`` set).
    Operations whose path (as written in the document, or with the base path) is in
    ``exclude_paths`` are left out.
    """
    try:
        import schemathesis
        from hypothesis.errors import Unsatisfiable
        from schemathesis import GenerationMode
        from schemathesis.core.result import Err
        from schemathesis.errors import SchemathesisError
    except ImportError as exc:
        raise ProbeError(
            f"malformed-input fuzzing needs Schemathesis ({exc.name} is missing): "
            "install prodready[probe]"
        ) from exc

    if not isinstance(schema.get("paths", {}), dict):
        raise ProbeError("cannot load the OpenAPI document: 'paths' is not an object")
    outcome = FuzzOutcome()
    try:
        # An explicit default config: `from_dict` would otherwise look for a schemathesis.toml
        # from the working directory upwards. The document is copied: loading rewrites keys.
        loaded = schemathesis.openapi.from_dict(copy.deepcopy(schema), config=schemathesis.Config())
        declared = loaded.declared_base_path().rstrip("/")
        results = list(loaded.get_all_operations())
    except SchemathesisError as exc:
        raise ProbeError(f"cannot load the OpenAPI document: {_first_line(exc)}") from exc
    except Exception as exc:  # Schemathesis asserts on some malformed documents
        raise ProbeError(f"cannot load the OpenAPI document: {_describe(exc)}") from exc

    root = base_url.rstrip("/")
    if declared and urlsplit(root).path in ("", "/") and "://" not in declared:
        root += declared
    excluded = {path.rstrip("/") or "/" for path in exclude_paths}
    extra_headers = dict(headers or {})

    with _quiet_hypothesis():
        for result in results:
            if time.monotonic() >= deadline:
                outcome.truncated = True
                break
            if isinstance(result, Err):
                error = result.err()
                outcome.skipped.append(f"{_error_label(error)}: {_first_line(error)}")
                continue
            operation = result.ok()
            label = f"{operation.method.upper()} {operation.path}"
            if {
                operation.path.rstrip("/") or "/",
                operation.full_path.rstrip("/") or "/",
            } & excluded:
                continue
            problems: list[str] = []
            generated = False
            for mode in (GenerationMode.NEGATIVE, GenerationMode.POSITIVE):
                run = _OperationRun(
                    outcome, operation, label, mode, root, extra_headers, request_timeout, deadline
                )
                try:
                    run.execute(max_examples)
                    generated = True
                except _DeadlineReached:
                    generated = generated or run.sent > 0
                    outcome.truncated = True
                    break
                except Unsatisfiable:
                    # Negative mode has nothing to violate in an operation without parameters.
                    problems.append(f"no {mode.value} cases could be generated")
                except SchemathesisError as exc:
                    problems.append(f"{mode.value}: {_first_line(exc)}")
                except Exception as exc:  # noqa: BLE001 - one operation's bug must not end the run
                    problems.append(f"{mode.value}: {_describe(exc)}")
            if generated:
                outcome.operations.append(label)
                # Only real errors are worth a note once the operation got some traffic.
                problems = [problem for problem in problems if not problem.startswith("no ")]
            if problems and not (outcome.truncated and not generated):
                outcome.skipped.append(f"{label}: {'; '.join(problems)}")
            if outcome.truncated:
                break
    return outcome


class _OperationRun:
    """Draws and sends the cases of one operation in one generation mode."""

    def __init__(
        self,
        outcome: FuzzOutcome,
        operation: _Operation,
        label: str,
        mode: GenerationMode,
        base_url: str,
        headers: dict[str, str],
        request_timeout: float,
        deadline: float,
    ) -> None:
        self.outcome = outcome
        self.operation = operation
        self.label = label
        self.mode = mode
        self.base_url = base_url
        self.headers = headers
        self.request_timeout = request_timeout
        self.deadline = deadline
        self.sent = 0
        self.seen: set[tuple[str, int | None]] = {
            (failure.kind, failure.status)
            for failure in outcome.failures
            if failure.operation == label
        }

    def execute(self, max_examples: int) -> None:
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings

        strategy = self.operation.as_strategy(generation_mode=self.mode)

        @settings(
            max_examples=max(1, max_examples),
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
            report_multiple_bugs=False,
            verbosity=Verbosity.quiet,
            print_blob=False,
        )
        @given(case=strategy)
        def send(case: _Case) -> None:
            # Raising ends generation at once: there is no shrink phase, and the single replay
            # Hypothesis does raises again right here.
            if time.monotonic() >= self.deadline:
                raise _DeadlineReached
            self.send(case)
            self.sent += 1

        test: Callable[[], None] = send
        test()

    def send(self, case: _Case) -> None:
        import requests
        from schemathesis.errors import SerializationError

        outcome = self.outcome
        try:
            response = case.call(
                base_url=self.base_url, headers=dict(self.headers), timeout=self.request_timeout
            )
        except (requests.exceptions.Timeout, TimeoutError):
            outcome.requests += 1
            self.record(case, "timeout", None, f"no answer within {self.request_timeout:g}s")
            return
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            outcome.requests += 1
            self.record(case, "connection_error", None, _first_line(exc))
            return
        except (requests.exceptions.RequestException, SerializationError, ValueError):
            # The client could not put this case on the wire (an unencodable header, a body
            # the media type cannot carry): nothing reached the service.
            outcome.unsent += 1
            return
        outcome.requests += 1
        status = response.status_code
        key = f"{status // 100}xx"
        outcome.statuses[key] = outcome.statuses.get(key, 0) + 1
        if status >= 500:
            detail = f"{status} {response.message}".strip()
            snippet = " ".join(response.text_lossy().split())
            if snippet:
                detail = f"{detail}: {snippet}"
            self.record(case, "server_error", status, detail)

    def record(self, case: _Case, kind: str, status: int | None, detail: str) -> None:
        key = (kind, status)
        if key in self.seen:
            return
        per_operation = sum(
            1 for failure in self.outcome.failures if failure.operation == self.label
        )
        if per_operation >= MAX_FAILURES_PER_OPERATION:
            return
        self.seen.add(key)
        self.outcome.failures.append(
            FuzzFailure(
                operation=self.label,
                kind=kind,
                status=status,
                detail=detail[:_DETAIL_CHARS],
                curl=_curl(case, self.base_url, self.headers),
                mode=self.mode.value,
            )
        )


def _curl(case: _Case, base_url: str, headers: Mapping[str, str]) -> str:
    try:
        return case.as_curl_command(headers=dict(headers), base_url=base_url)
    except Exception as exc:  # noqa: BLE001 - a reproduction hint must not hide the failure itself
        return f"(no curl command: {type(exc).__name__}: {_first_line(exc)})"


@contextlib.contextmanager
def _quiet_hypothesis() -> Iterator[None]:
    """Silence library warnings and keep Hypothesis' cache files out of the working directory.

    Hypothesis writes its Unicode tables and extracted constants under ``.hypothesis`` in the
    working directory unless told otherwise; for the run it uses a temporary directory (an
    explicit ``HYPOTHESIS_STORAGE_DIRECTORY`` is respected), and the previous setting is restored.
    """
    from hypothesis import configuration

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
            yield
            return
        previous = vars(configuration).get("__hypothesis_home_directory")
        with tempfile.TemporaryDirectory(prefix="prodready-hypothesis-") as home:
            configuration.set_hypothesis_home_dir(home)
            try:
                yield
            finally:
                configuration.set_hypothesis_home_dir(previous)


def _error_label(error: BaseException) -> str:
    method = getattr(error, "method", None)
    path = getattr(error, "path", None)
    if method and path:
        return f"{str(method).upper()} {path}"
    return str(path or "schema")


def _describe(exc: BaseException) -> str:
    """An unexpected exception, with its type: "KeyError: 'x'"."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {_first_line(exc)}" if text else type(exc).__name__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line[:_DETAIL_CHARS]
