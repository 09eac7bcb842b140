"""Dockerfile: images that run as root (DKR001)."""

from __future__ import annotations

from prodready.plugin import (
    Category,
    Confidence,
    Dockerfile,
    FileContext,
    FileKind,
    Instruction,
    Severity,
    Stage,
    file_rule,
)
from prodready.rules.dockerfile._shared import (
    _base,
    _chain,
    _dev_dockerfile,
    _global_args,
    _process,
    _production_stage,
    _split,
    _substitute,
    _words,
)
from prodready.rules.dockerfile.images import non_root_image

# -- DKR001 -----------------------------------------------------------------------------------

_ROOT_USERS = frozenset({"root", "0"})
_PRIVILEGE_DROPPERS = frozenset(
    {"gosu", "su-exec", "setpriv", "runuser", "chpst", "s6-setuidgid", "setuidgid", "su"}
)


# Process supervisors: they run as root by design to start the services they supervise, and
# each service's run script or program section chooses its user (s6-setuidgid, gosu, user=).
_SUPERVISORS = frozenset({"supervisord", "s6-svscan", "runsvdir", "my_init"})
_S6_OVERLAY_INIT = "init"  # s6-overlay's /init: only where the image installs s6-overlay
_INIT_SHIMS = frozenset({"tini", "dumb-init", "catatonit"})


def _supervisor(words: list[str], chain: list[Stage]) -> str | None:
    """The process supervisor the image starts (``supervisord``, s6-overlay's ``/init``...)."""
    rest = list(words)
    while rest and (rest[0] in _INIT_SHIMS or rest[0].startswith("-")):
        rest = rest[1:]  # tini -- supervisord: the shim only reaps zombies
    program = rest[0] if rest else ""
    if program in _SUPERVISORS:
        return program
    if program == _S6_OVERLAY_INIT and _installs_s6_overlay(chain):
        return "s6-overlay's /init"
    return None


_INSTALLED_DROPPERS = ("gosu", "su-exec")


def _installed_dropper(chain: list[Stage]) -> str | None:
    """The privilege-dropping tool the image installs (``apt-get install gosu``, ``COPY
    --from=tianon/gosu``): a tool whose only use is to step down from root at run time."""
    for stage in chain:
        for instruction in [*stage.find("RUN"), *stage.find("COPY")]:
            words = {_base(word) for word in _split(instruction.value)}
            words |= {word.split(":", 1)[0] for word in words}  # gosu:1.17 / --from=tianon/gosu
            found = next((tool for tool in _INSTALLED_DROPPERS if tool in words), None)
            if found is not None:
                return found
    return None


def _installs_s6_overlay(chain: list[Stage]) -> bool:
    return any(
        "s6-overlay" in instruction.value.lower() or instruction.value.startswith("S6_")
        for stage in chain
        for instruction in stage.instructions
        if instruction.keyword in {"ADD", "RUN", "COPY", "ENV"}
    )


# Official web-server images whose master process starts as root and hands every request to
# workers running as an unprivileged user compiled into the image (nginx: `nginx`, httpd:
# `daemon`), with the programs that start that server.
_DROPPING_SERVERS = {
    "nginx": frozenset({"nginx", "nginx-debug"}),
    "httpd": frozenset({"httpd-foreground", "httpd", "apachectl"}),
}


def _privilege_dropping_server(base: str, words: list[str]) -> str | None:
    """The official server image (``nginx:1.27-alpine``, ``docker.io/library/httpd:2.4``)
    whose own server is what the container runs (the image's default command, or the server
    started explicitly): ``None`` when the stage runs another program."""
    name = (
        base.lower().partition("@")[0].rsplit(":", 1)[0]
        if ":" in base.rsplit("/", 1)[-1]
        else base.lower().partition("@")[0]
    )
    for prefix in ("docker.io/", "index.docker.io/", "library/"):
        name = name.removeprefix(prefix)
    programs = _DROPPING_SERVERS.get(name)
    if programs is None:
        return None
    if words and words[0] not in programs:
        return None
    return name


def _user_of(instruction: Instruction) -> str:
    words = instruction.value.split()
    return words[0].partition(":")[0] if words else ""


@file_rule(
    kind=FileKind.DOCKERFILE,
    code="DKR001",
    name="dockerfile-runs-as-root",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    cwe=250,
    summary="The image's final stage runs its process as root (no USER, or USER root)",
    fix="Create an unprivileged user and switch to it: RUN useradd --uid 10001 app; USER app",
)
def dockerfile_runs_as_root(document: Dockerfile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags a Dockerfile whose final stage never switches to an unprivileged user (no `USER`
    instruction in it or in the stages it is built from), or whose last `USER` is `root`/`0`.
    Base images that already run as a non-root user (`distroless/*:nonroot`, Chainguard images,
    Red Hat UBI language images, AWS Lambda images) and entrypoints that drop privileges
    (`gosu`, `su-exec`) are accepted. The final stage is the last one unless that is a
    development target (`AS dev`, `AS test`); dev containers and `Dockerfile.dev` are skipped.
    Evidence tier: when the entrypoint is a process supervisor (s6-overlay's `/init`,
    `supervisord`, `runsvdir`), it runs as root by design and each service's run script picks
    its user -- which the Dockerfile does not show: the finding is reported at low (confidence
    low) and says so, not at medium. So is the official nginx or httpd image running its own
    server: the master is root but the request-handling workers run as the user the server
    is built with, unless a config the Dockerfile does not show says otherwise. So is an
    entrypoint script in an image that installs `gosu` or `su-exec` (tools whose only use is
    to step down from root at run time): the script re-executes the app as its user, which
    the Dockerfile does not show.

    ## Why it breaks production
    A process running as root inside the container is root on the container's filesystem and,
    after any container escape (runc and kernel CVEs happen every year), root on the node: one
    remote-code-execution bug in the app or a dependency becomes a node compromise. Clusters
    that enforce the `restricted` Pod Security Standard (`runAsNonRoot: true`) refuse to start
    such images at all -- often discovered at the first production deploy.

    ## Example
    ```dockerfile
    FROM python:3.12-slim
    COPY . /app
    RUN pip install --no-cache-dir -r /app/requirements.txt
    CMD ["gunicorn", "app:app"]
    ```

    ## Use instead
    ```dockerfile
    FROM python:3.12-slim
    RUN useradd --create-home --uid 10001 app
    COPY --chown=app:app . /app
    RUN pip install --no-cache-dir -r /app/requirements.txt
    USER 10001
    CMD ["gunicorn", "app:app"]
    ```
    """
    final = _production_stage(document)
    if final is None or _dev_dockerfile(ctx.path):
        return
    chain = _chain(document, final)
    users = [instruction for stage in chain for instruction in stage.find("USER")]
    if users:
        last = users[-1]
        user = _user_of(last)
        if "$" in user or user.lower() not in _ROOT_USERS:
            return
        line = last.line if last.stage == final.index else final.line
        ctx.report(
            line,
            f"the final image runs as `USER {last.value.split()[0]}`: the app is root in the "
            "container and after any escape on the node; switch back to an unprivileged user "
            "(USER app or a numeric UID) after the steps that need root",
        )
        return
    variables = _global_args(document)
    base = _substitute(chain[0].image, variables) if "$" in chain[0].image else chain[0].image
    if base is None or non_root_image(base):
        return
    entrypoint, command = _process(chain)
    if base.lower() == "scratch" and entrypoint is None and command is None:
        return  # an export stage (docker build --output), not a runnable image
    words = [_base(word) for word in _words(entrypoint) + _words(command)]
    if any(word in _PRIVILEGE_DROPPERS for word in words):
        return  # the entrypoint drops to an unprivileged user at run time
    if any(word in {"--user", "--uid"} or word.startswith(("--user=", "--uid=")) for word in words):
        return  # gunicorn --user / uwsgi --uid switch after binding
    supervisor = _supervisor(words, chain)
    if supervisor is not None:
        ctx.report(
            final.line,
            f"the final stage has no USER instruction and its entrypoint is a process "
            f"supervisor ({supervisor}), which runs as root to start its services: whether each "
            "service drops privileges (s6-setuidgid, gosu or su-exec in its run script, user= "
            "in its program section) cannot be told from the Dockerfile; a service that does "
            "not runs as root -- drop privileges in every service, or add `USER`",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    server = _privilege_dropping_server(base, words)
    if server is not None:
        ctx.report(
            final.line,
            f"the final stage has no USER instruction and runs the official {server} image's "
            f"server: its master process is root (to bind ports and read the config) and its "
            f"request-handling workers run as the unprivileged user {server} is built with "
            "unless the config says otherwise -- which prodready could not tell from the "
            "Dockerfile, so reported low. Clusters enforcing runAsNonRoot still refuse the "
            "image; an unprivileged variant (nginxinc/nginx-unprivileged) or `USER` avoids it",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    script = any(word.endswith(".sh") or "entrypoint" in word for word in words)
    dropper = _installed_dropper(chain) if script else None
    if dropper is not None:
        ctx.report(
            final.line,
            f"the final stage has no USER instruction, but the image installs {dropper} and "
            "starts an entrypoint script: such a script usually re-executes the app as an "
            f"unprivileged user ({dropper} $UID ...) -- which the Dockerfile does not show, so "
            "reported low. Clusters enforcing runAsNonRoot still refuse the image; `USER` "
            "makes it explicit",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    ctx.report(
        final.line,
        "the final stage has no USER instruction, so the container runs as root: an exploited "
        "bug is root in the container (and on the node after an escape), and clusters enforcing "
        "runAsNonRoot refuse the image; add a user and `USER <name or UID>` before CMD",
        confidence=Confidence.MEDIUM if script else None,
    )
