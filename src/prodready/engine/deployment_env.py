"""Environment variables the scanned tree's deployment configuration sets.

A setting with an empty default (``STRIPE_SECRET_KEY: str = ""``) is a startup hazard only when
nothing supplies it where the service runs. Many services keep what does supply it beside the
code: Terraform modules (``POLAR_STRIPE_SECRET_KEY = var.stripe.secret_key``), Kubernetes
manifests and Helm values (``- name: API_TOKEN``), compose files (``API_TOKEN: ${API_TOKEN}``),
Render's ``render.yaml`` (``- key: API_TOKEN``), Heroku's ``app.json``, Fly's ``fly.toml``.
A rule names :func:`deployed_env_fact` on such a finding (``ctx.report(..., unless=...)``); the
moot pass (:mod:`prodready.engine.moot`) reads the tree's deployment files when a finding asks,
so an edited Terraform module counts on a warm rescan too.

Files whose path gives them a role outside the service (tests, examples, hidden directories such
as CI workflows, a compose stack named for development) do not deploy the service: what they set
is not counted. A variable set to an empty value is not counted either.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from prodready.engine.discovery import SKIPPED_DIRECTORIES, classify, read_regular_file
from prodready.engine.roles import path_role
from prodready.model import FileKind, Finding, ProjectFact

FACT_PREFIX = "deployed-env:"
# Facts about how the service is launched (``launch:single-process-server``): the launcher is a
# command-line script by role, and it is what production runs, so the moot pass takes these
# facts from scripts as well as from service modules.
LAUNCH_FACT_PREFIX = "launch:"
_FILE_LIMIT = 524_288  # a deployment file larger than this is generated data, not configuration
_MAX_FILES = 4_000  # bounds the walk of a huge tree; the first files found are read
_TERRAFORM_SUFFIXES = (".tf", ".tfvars", ".tf.json")
_NAMED_FILES = frozenset({"app.json", "fly.toml"})
_NAME = r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*"
# ``NAME = value`` (HCL, TOML), ``NAME: value`` / ``- NAME=value`` (YAML maps and compose
# lists), ``"NAME": value`` (JSON, quoted HCL keys).
_ASSIGNED = re.compile(rf"^\s*(?:-\s*)?[\"']?({_NAME})[\"']?\s*[=:](.*)$", re.MULTILINE)
# ``- name: NAME`` (Kubernetes env lists), ``- key: NAME`` (render.yaml envVars).
_NAMED = re.compile(rf"^\s*(?:-\s*)?(?:name|key)\s*:\s*[\"']?({_NAME})[\"']?\s*$", re.MULTILINE)
# ``"NAME": value`` anywhere in a JSON document (app.json is often written on few lines).
_JSON_KEY = re.compile(rf"\"({_NAME})\"\s*:\s*(\"\"|[^\s,}}])")
_EMPTY_VALUES = frozenset({"", '""', "''"})


def deployed_env_fact(name: str) -> ProjectFact:
    """The fact that the tree's deployment configuration sets environment variable ``name``
    (compared case-insensitively: Pydantic settings match names so by default)."""
    return ProjectFact(
        f"{FACT_PREFIX}{name.upper()}",
        "the deployment configuration kept with the code sets this environment variable",
    )


def deployed_env_facts(findings: Iterable[Finding], root: Path) -> frozenset[str]:
    """The ``deployed-env:`` facts that hold under ``root`` -- read only when a finding names
    one (most scans have none, and then no file is read)."""
    if not any(fact.startswith(FACT_PREFIX) for f in findings for fact in f.unless):
        return frozenset()
    return frozenset(FACT_PREFIX + name for name in deployed_env_names(root))


# What starts the server as several processes: gunicorn/uWSGI (a pre-fork master), an explicit
# worker count above one, or the conventional WEB_CONCURRENCY variable.
_MULTI_PROCESS = re.compile(
    r"\bgunicorn\b|\buwsgi\b|\bWEB_CONCURRENCY\b|--processes\b"
    r"|--workers(?:=|\s+)(?:[2-9]|\d{2,}|\$)|\s-w\s*(?:[2-9]|\d{2,})\b",
    re.IGNORECASE,
)
_LAUNCH_FILES = frozenset({"procfile"})


def contradicted_launch_facts(findings: Iterable[Finding], root: Path) -> frozenset[str]:
    """``launch:`` facts the deployment files under ``root`` contradict: the Python launcher
    may start one process while the Dockerfile, compose file, manifest or Procfile runs the
    app under gunicorn with several workers -- then the launcher is not how production runs
    it. Read only when a finding names a launch fact."""
    named = {fact for f in findings for fact in f.unless if fact.startswith(LAUNCH_FACT_PREFIX)}
    if not named:
        return frozenset()
    for path in _deployment_files(root, launchers=True):
        data = read_regular_file(path, _FILE_LIMIT)
        if data is not None and _MULTI_PROCESS.search(data.decode("utf-8", errors="replace")):
            return frozenset(named)
    return frozenset()


def deployed_env_names(root: Path) -> set[str]:
    """Upper-cased names of the environment variables the deployment files under ``root`` set
    to a non-empty value."""
    names: set[str] = set()
    for path in _deployment_files(root):
        data = read_regular_file(path, _FILE_LIMIT)
        if data is None:
            continue
        text = data.decode("utf-8", errors="replace")
        if path.name.lower().endswith(".json"):
            names |= {m.group(1) for m in _JSON_KEY.finditer(text) if m.group(2) != '""'}
        else:
            names |= _names_in(text)
    return names


def _names_in(text: str) -> set[str]:
    names = {match.group(1) for match in _NAMED.finditer(text)}
    for match in _ASSIGNED.finditer(text):
        if match.group(2).strip() not in _EMPTY_VALUES:  # ``TOKEN: ""`` sets it to nothing
            names.add(match.group(1))
    return names


def _deployment_files(root: Path, *, launchers: bool = False) -> list[Path]:
    found: list[Path] = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(
            d for d in subdirectories if d not in SKIPPED_DIRECTORIES and not d.startswith(".")
        )
        relative = os.path.relpath(directory, root).replace(os.sep, "/")
        prefix = "" if relative == "." else relative + "/"
        for name in sorted(files):
            if not (_deployment_name(name) or (launchers and _launcher_name(name))):
                continue
            if path_role(prefix + name, classify(name)) is not None:
                continue  # a test's, an example's or a development stack's settings
            found.append(Path(directory) / name)
            if len(found) >= _MAX_FILES:
                return found
    return found


def _deployment_name(name: str) -> bool:
    lower = name.lower()
    if "lock" in lower:
        return False  # pnpm-lock.yaml and the like: resolved packages, no environment
    return (
        lower.endswith(_TERRAFORM_SUFFIXES)
        or lower.endswith((".yaml", ".yml"))
        or lower in _NAMED_FILES
    )


def _launcher_name(name: str) -> bool:
    """Files that say how the service is started: Dockerfiles and Procfiles."""
    return classify(name) is FileKind.DOCKERFILE or name.lower() in _LAUNCH_FILES
