"""Dockerfile: images without a HEALTHCHECK (DKR007)."""

from __future__ import annotations

from prodready.plugin import (
    Category,
    Confidence,
    Dockerfile,
    FileContext,
    FileKind,
    Severity,
    Stage,
    file_rule,
)
from prodready.rules.dockerfile._shared import (
    _base,
    _chain,
    _dev_dockerfile,
    _process,
    _production_stage,
    _words,
)

# -- DKR007 -----------------------------------------------------------------------------------

_WEB_SERVERS = frozenset(
    {
        "gunicorn",
        "uvicorn",
        "hypercorn",
        "daphne",
        "granian",
        "uwsgi",
        "waitress-serve",
        "nginx",
        "httpd",
        "apache2-foreground",
        "caddy",
        "traefik",
        "envoy",
    }
)
# Platforms that ignore the image's HEALTHCHECK (they probe the container themselves).
_OWN_HEALTH_CHECKS = frozenset({"kubernetes", "serverless", "paas"})


def _serves(chain: list[Stage], words: list[str]) -> bool:
    """The image is a network service: it EXPOSEs a port or starts a web server."""
    if any(instruction.value.strip() for stage in chain for instruction in stage.find("EXPOSE")):
        return True
    names = [_base(word) for word in words]
    if any(name in _WEB_SERVERS for name in names):
        return True
    if any(name.startswith("runserver") for name in names):
        return True
    return any(
        name in {"flask", "fastapi"} and names[position + 1 : position + 2] in (["run"], ["dev"])
        for position, name in enumerate(names)
    )


@file_rule(
    kind=FileKind.DOCKERFILE,
    code="DKR007",
    name="dockerfile-no-healthcheck",
    category=Category.DEPLOYMENT,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="A service image without HEALTHCHECK: Docker and Compose never notice a hung server",
    fix='HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "..."] against /healthz; '
    "on Kubernetes, configure probes instead.",
)
def dockerfile_no_healthcheck(document: Dockerfile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags the final stage of a service image -- one that `EXPOSE`s a port or starts a web
    server (gunicorn, uvicorn, uWSGI, nginx...) -- when neither it nor the stages it is built
    from declare a `HEALTHCHECK`. `HEALTHCHECK NONE` (an explicit opt-out), images without a
    server (workers, CLIs, builder stages), dev and test images are skipped, and so is every
    image when the profile says the service runs on Kubernetes, serverless or a PaaS
    (`[profile] runtime`), which ignore `HEALTHCHECK` and probe the container themselves.

    ## Why it breaks production
    Where the image runs under Docker itself -- `docker run --restart`, Compose, Swarm, a VM
    with a systemd unit -- the engine only knows whether the process is alive. A server that
    deadlocks, exhausts its worker pool or loses its database connection stays `Up` and keeps
    receiving traffic: nothing restarts it, Swarm keeps routing to it, Compose's
    `depends_on: condition: service_healthy` cannot wait for it. Kubernetes ignores
    `HEALTHCHECK` entirely -- liveness and readiness probes play that role there (see K8S002) --
    which is why this rule is low severity and stays silent with `runtime = "kubernetes"`.

    ## Example
    ```dockerfile
    FROM python:3.12-slim
    COPY . /app
    EXPOSE 8000
    CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]
    ```

    ## Use instead
    ```dockerfile
    FROM python:3.12-slim
    COPY . /app
    EXPOSE 8000
    HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \\
        CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz')"]
    CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]
    ```
    """
    if ctx.profile.runtime in _OWN_HEALTH_CHECKS:
        return
    final = _production_stage(document)
    if final is None or _dev_dockerfile(ctx.path):
        return
    chain = _chain(document, final)
    if any(stage.find("HEALTHCHECK") for stage in chain):
        return  # a check, or HEALTHCHECK NONE: a decision either way
    entrypoint, command = _process(chain)
    if not _serves(chain, _words(entrypoint) + _words(command)):
        return
    ctx.report(
        final.line,
        "the final stage serves traffic but declares no HEALTHCHECK: under Docker, Compose or "
        "Swarm a hung or deadlocked server stays `Up` and is never restarted or taken out of "
        "rotation; add HEALTHCHECK CMD against a health endpoint (Kubernetes ignores "
        "HEALTHCHECK and uses probes: if the image only runs there, set "
        '[profile] runtime = "kubernetes" and configure liveness/readiness probes)',
        confidence=Confidence.HIGH if ctx.profile.runtime == "vm" else None,
    )
