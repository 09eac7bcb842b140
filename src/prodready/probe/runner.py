"""One probe run: start the dependencies and the service, learn its API, run the checks within
the budget, and stop every process it started - also on failure and on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from prodready.probe.model import (
    PROBE_EXTRA_HINT,
    CheckResult,
    DependencyInfo,
    ProbeError,
    ProbeReport,
    ProbeTarget,
    ProbeTerminated,
    Status,
)
from prodready.probe.settings import DependencySpec, ProbeSettings

if TYPE_CHECKING:
    from prodready.probe.context import ProbeContext, ProxiedDependency
    from prodready.probe.netloop import BackgroundLoop
    from prodready.probe.sandbox import ServiceProcess

Progress = Callable[[str], None]
_MIN_CHECK_BUDGET_S = 3.0
# The watchdog fires this long after the budget, so work that honours the deadline ends first.
_WATCHDOG_SLACK_S = 1.0
# Past the budget, the service gets this long to exit on SIGTERM before SIGKILL.
_LATE_STOP_GRACE_S = 2.0


class _Termination:
    """SIGTERM handled like Ctrl-C, but never in the middle of stopping the service: a signal
    that arrives while cleaning up is raised once the cleanup is done."""

    def __init__(self) -> None:
        self.requested = False
        self._shielded = 0

    def handle(self, _signum: int, _frame: object) -> None:
        if self.requested:
            return  # a second SIGTERM must not break the cleanup the first one started
        self.requested = True
        if not self._shielded:
            raise ProbeTerminated

    def shielded(self, action: Callable[..., object], *args: object) -> None:
        self._shielded += 1
        try:
            action(*args)
        finally:
            self._shielded -= 1


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[_Termination]:
    termination = _Termination()
    if threading.current_thread() is not threading.main_thread():
        yield termination  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, termination.handle)
    try:
        yield termination
    finally:
        signal.signal(signal.SIGTERM, previous)
    if termination.requested:
        raise ProbeTerminated


def _require_probe_extra() -> None:
    # find_spec, not import: importing Locust would monkey-patch this process with gevent.
    wanted = ("httpx", "schemathesis", "locust", "psutil", "prometheus_client")
    missing = [module for module in wanted if importlib.util.find_spec(module) is None]
    if missing:
        raise ProbeError(f"prodready probe needs {', '.join(missing)}: {PROBE_EXTRA_HINT}")


def run_probe(
    settings: ProbeSettings,
    *,
    project_dir: Path,
    artifacts: Path | None = None,
    progress: Progress | None = None,
) -> ProbeReport:
    if not settings.cmd:
        raise ProbeError("no command to start the service: give --cmd or set probe.cmd")
    _require_probe_extra()
    say = progress or (lambda message: None)
    started_wall = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    with _sigterm_as_interrupt() as termination, contextlib.ExitStack() as outer:
        stack = contextlib.ExitStack()
        outer.callback(termination.shielded, stack.close)
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="prodready-probe-")))
        artifacts = artifacts or scratch / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        ctx = stack.enter_context(
            _environment(settings, project_dir, scratch, artifacts, started, termination)
        )
        report = ProbeReport(target=_target(settings, ctx), started_at=started_wall)
        say(f"service listening on {ctx.base_url}")
        _learn(ctx, project_dir, report)
        report.target = _target(settings, ctx)
        for check_id in settings.selected():
            report.checks.append(_run_check(ctx, check_id, say))
        report.duration_s = time.monotonic() - started
        return report
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow


@contextlib.contextmanager
def _environment(
    settings: ProbeSettings,
    project_dir: Path,
    scratch: Path,
    artifacts: Path,
    started: float,
    termination: _Termination,
) -> Iterator[ProbeContext]:
    import httpx

    from prodready.probe.context import ProbeContext
    from prodready.probe.netloop import BackgroundLoop
    from prodready.probe.sandbox import (
        ServiceProcess,
        build_argv,
        free_port,
        scrubbed_environment,
    )

    assert settings.cmd is not None
    port = free_port()
    argv = build_argv(settings.cmd, port, project_dir)
    workdir = Path(settings.workdir).resolve() if settings.workdir else scratch / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    home = scratch / "home"
    home.mkdir()
    with contextlib.ExitStack() as stack:
        loop = stack.enter_context(BackgroundLoop())
        deps: dict[str, ProxiedDependency] = {}
        for spec in settings.deps:
            deps[spec.name] = _start_dependency(loop, spec)
            stack.callback(_stop_dependency, loop, deps[spec.name])
        extra = {
            **settings.env,
            "PORT": str(port),
            **{dependency.spec.env: dependency.url for dependency in deps.values()},
        }
        env, _dropped = scrubbed_environment(extra, home=home, project_dir=project_dir)
        service = ServiceProcess(
            argv,
            port=port,
            env=env,
            workdir=workdir,
            limits=settings.limits,
            isolate=settings.isolate,
            log_dir=artifacts,
        )
        deadline = started + settings.budget_s
        stack.callback(termination.shielded, _stop_service, service, settings, deadline)
        service.start()
        # The budget is a hard deadline: a watchdog stops the service when the run overruns
        # it (a check stuck on a hung service, discovery against a slow one).
        watchdog = threading.Timer(
            max(0.0, deadline - time.monotonic()) + _WATCHDOG_SLACK_S, service.expire
        )
        watchdog.daemon = True
        watchdog.start()
        stack.callback(watchdog.cancel)
        left = deadline - time.monotonic()
        if left < settings.startup_timeout_s:
            service.wait_listening(
                max(0.0, left), limit=f"the run's --budget of {settings.budget_s:g} s"
            )
        else:
            service.wait_listening(settings.startup_timeout_s)
        # prodready: ignore[CFG001] the probe talks to the service it started, on loopback only
        base_url = f"http://127.0.0.1:{port}"
        client = stack.enter_context(
            httpx.Client(
                base_url=base_url,
                timeout=settings.request_timeout_s,
                trust_env=False,
                # A fresh connection per request: a service that closes a keep-alive connection
                # after an error must not make the next, unrelated request fail.
                limits=httpx.Limits(max_keepalive_connections=0),
            )
        )
        yield ProbeContext(
            settings=settings,
            service=service,
            base_url=base_url,
            loop=loop,
            deps=deps,
            client=client,
            artifacts=artifacts,
            deadline=deadline,
        )


def _stop_service(service: ServiceProcess, settings: ProbeSettings, deadline: float) -> None:
    # Within the budget the service gets its whole grace period; past it, only a short one.
    left = deadline - time.monotonic()
    service.stop(min(settings.grace_period_s, max(_LATE_STOP_GRACE_S, left)))


def _start_dependency(loop: BackgroundLoop, spec: DependencySpec) -> ProxiedDependency:
    from prodready.probe.context import ProxiedDependency
    from prodready.probe.faults import FaultProxy
    from prodready.probe.upstream import FakeUpstream, UpstreamResponse

    address = spec.target_address
    upstream = None
    if address is None:
        responses = [
            UpstreamResponse(
                path=template.path,
                method=template.method,
                status=template.status,
                body=template.body,
                headers=template.headers,
            )
            for template in spec.responses
        ]
        upstream = FakeUpstream(spec.name, responses)
        loop.run(upstream.start())
        address = ("127.0.0.1", upstream.port)
    else:
        _require_reachable(spec, address)
    proxy = FaultProxy(spec.name, address[0], address[1])
    loop.run(proxy.start())
    template = spec.url or (
        "http://{host}:{port}" if upstream is not None else "tcp://{host}:{port}"
    )
    url = template.format(host="127.0.0.1", port=proxy.port)
    return ProxiedDependency(spec=spec, proxy=proxy, upstream=upstream, url=url)


def _require_reachable(spec: DependencySpec, address: tuple[str, int]) -> None:
    import socket

    try:
        with socket.create_connection(address, timeout=3.0):
            return
    except OSError as exc:
        raise ProbeError(
            f"dependency {spec.name}: {spec.target} does not accept connections "
            f"({exc.strerror or exc}); start it first"
        ) from exc


def _stop_dependency(loop: BackgroundLoop, dependency: ProxiedDependency) -> None:
    loop.run(dependency.proxy.stop())
    if dependency.upstream is not None:
        loop.run(dependency.upstream.stop())


def _learn(ctx: ProbeContext, project_dir: Path, report: ProbeReport) -> None:
    from prodready.probe.endpoints import (
        LIVENESS_PATHS,
        READINESS_PATHS,
        choose_traffic,
        discover_dependents,
        load_openapi,
        operations,
        request_candidates,
        routes_in_code,
        search_endpoint,
    )

    ctx.openapi, ctx.openapi_source = load_openapi(ctx, project_dir)
    if ctx.openapi is None:
        report.notes.append(
            "no OpenAPI document found at /openapi.json; checks that need one are skipped"
        )
    ctx.liveness, ctx.endpoint_answers["liveness"] = search_endpoint(
        ctx, ctx.settings.liveness, LIVENESS_PATHS
    )
    ctx.readiness, ctx.endpoint_answers["readiness"] = search_endpoint(
        ctx, ctx.settings.readiness, READINESS_PATHS
    )
    ctx.candidates = request_candidates(ctx)
    ctx.requests_from = _requests_source(ctx)
    if ctx.openapi is None and not ctx.settings.requests:
        # No API description: the routes `prodready scan` finds in the code stand in for it.
        routes = routes_in_code(project_dir)
        ctx.candidates = routes.usable
        left_out = ", ".join(routes.left_out)
        if routes.usable:
            ctx.requests_from = routes.source
            note = (
                f"no OpenAPI document or [{ctx.settings.table()}] requests: the probe sends "
                f"{routes.source}"
            )
            if routes.left_out:
                note += f" (left out, not GETs or with path parameters: {left_out})"
            report.notes.append(note)
        elif routes.left_out:
            report.notes.append(
                f"routes found in the code, none a GET without path parameters: {left_out}"
            )
    ctx.dependent, ctx.healthy = discover_dependents(ctx)
    choose_traffic(ctx)
    if ctx.no_traffic:
        report.notes.append(
            f"{ctx.no_traffic}; load, rate-limit and shutdown checks that need one are skipped"
        )
    report.target.operations = len(operations(ctx.openapi))


def _requests_source(ctx: ProbeContext) -> str:
    parts = [f"[{ctx.settings.table()}] requests"] if ctx.settings.requests else []
    if ctx.openapi is not None:
        parts.append("the OpenAPI document")
    return " and ".join(parts)


def _target(settings: ProbeSettings, ctx: ProbeContext) -> ProbeTarget:
    return ProbeTarget(
        command=settings.cmd or "",
        base_url=ctx.base_url,
        port=ctx.service.port,
        openapi=ctx.openapi_source,
        operations=len(ctx.openapi.get("paths", {})) if ctx.openapi else 0,
        dependencies=[
            DependencyInfo(
                name=name,
                env=dependency.spec.env,
                kind="http" if dependency.upstream is not None else "tcp",
                url=dependency.url,
                target=dependency.spec.target or "fake upstream",
            )
            for name, dependency in ctx.deps.items()
        ],
        isolated=settings.isolate,
    )


def _run_check(ctx: ProbeContext, check_id: str, say: Progress) -> CheckResult:
    from prodready.probe.checks import CHECK_FUNCTIONS

    if ctx.remaining() < _MIN_CHECK_BUDGET_S or ctx.service.expired:
        return CheckResult(
            check_id, Status.SKIP, "the run's --budget was used up before this check"
        )
    if not ctx.ensure_running():
        return CheckResult(
            check_id,
            Status.FAIL,
            f"the service is not running (exit code {ctx.service.exit_code()}) and did not restart",
            {"service_output": ctx.service.tail(15)},
        )
    say(f"check {check_id}")
    began = time.monotonic()
    try:
        result = CHECK_FUNCTIONS[check_id](ctx)
    except ProbeError as exc:
        result = CheckResult(check_id, Status.FAIL, str(exc))
    except Exception as exc:  # noqa: BLE001 - one broken check must not lose the others' results
        (ctx.artifacts / f"{check_id}.traceback.txt").write_text(traceback.format_exc())
        result = CheckResult(
            check_id,
            Status.SKIP,
            f"the check itself failed ({type(exc).__name__}: {exc}); see the artifacts",
        )
    finally:
        ctx.clear_faults()
    if ctx.service.expired:
        result = CheckResult(
            check_id,
            Status.SKIP,
            f"the run's --budget of {ctx.settings.budget_s:g} s ran out during this check; "
            "the service was stopped",
        )
    elif check_id != "graceful-shutdown" and not ctx.alive():
        code = ctx.service.exit_code()
        result.evidence["service_exit_code"] = code
        result.evidence["service_output"] = ctx.service.tail(15)
        if result.status is Status.PASS:
            result.status = Status.FAIL
            result.reason = f"the service exited (code {code}) during this check"
    result.duration_s = time.monotonic() - began
    say(f"check {check_id}: {result.status.value} - {result.reason}")
    return result
