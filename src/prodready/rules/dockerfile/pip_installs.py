"""Dockerfile: pip caches kept and unpinned pip installs (DKR006, DKR009)."""

from __future__ import annotations

import re

from prodready.plugin import (
    Category,
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
    _pairs,
    _production_stage,
    _segments,
    _shell_lines,
    _split,
    _text_line,
)


def _run_segments(instruction: Instruction) -> list[list[str]]:
    """The simple commands of a RUN, as shell words (comments dropped)."""
    segments: list[list[str]] = []
    for command_line in _shell_lines(instruction):
        segments.extend(_segments(_split(command_line, comments=True)))
    return segments


# -- DKR006 -----------------------------------------------------------------------------------


def _installs_with_pip(segment: list[str]) -> bool:
    names = [_base(word) for word in segment]
    for position, name in enumerate(names):
        if re.fullmatch(r"pip(3(\.\d+)?)?", name):
            if position > 0 and names[position - 1] in {"uv", "pipx"}:
                return False
            return "install" in names[position + 1 :]
    return False


_PIP_INSTALL = re.compile(r"\bpip[0-9.]*\s+(?:[^&;|#]*\s)?install\b")


def _pip_line(ctx: FileContext, instruction: Instruction) -> int:
    """The line of a multi-line RUN with the pip install that keeps its cache."""
    for number in range(instruction.line, min(instruction.end_line, len(ctx.lines)) + 1):
        text = ctx.lines[number - 1]
        if _PIP_INSTALL.search(text) and "--no-cache" not in text:
            return number
    return instruction.line


def _cache_mount(instruction: Instruction) -> bool:
    for value in instruction.flag_values("mount"):
        options = dict(part.partition("=")[::2] for part in value.split(","))
        if options.get("type") == "cache":
            target = options.get("target") or options.get("dst") or options.get("destination") or ""
            if ".cache" in target or "pip" in target:
                return True
    return False


@file_rule(
    kind=FileKind.DOCKERFILE,
    code="DKR006",
    name="dockerfile-pip-cache-kept",
    category=Category.PERFORMANCE,
    severity=Severity.LOW,
    summary="pip install without --no-cache-dir keeps the wheel cache in the image layer",
    fix="pip install --no-cache-dir ..., or ENV PIP_NO_CACHE_DIR=1, or a BuildKit cache mount.",
)
def dockerfile_pip_cache_kept(document: Dockerfile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags `RUN pip install ...` in the final image without `--no-cache-dir`, when no
    `PIP_NO_CACHE_DIR` is set, the RUN has no `--mount=type=cache` for the pip cache and does
    not remove `~/.cache/pip` itself. Builder stages whose files are copied out are not checked.

    ## Why it breaks production
    pip keeps every downloaded wheel in `~/.cache/pip`; inside a `RUN` that directory becomes
    part of the layer, often tens to hundreds of megabytes (numpy, grpc, torch). Every node
    pulls it on every deploy, scale-up and rollback: slower autoscaling when traffic spikes,
    slower recovery, more registry egress -- for files the container never reads.

    ## Example
    ```dockerfile
    RUN pip install -r requirements.txt
    ```

    ## Use instead
    ```dockerfile
    RUN pip install --no-cache-dir -r requirements.txt
    # or keep the cache out of the layer with BuildKit:
    RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt
    ```
    """
    final = _production_stage(document)
    if final is None or _dev_dockerfile(ctx.path):
        return
    chain = _chain(document, final)
    for instruction in document.instructions:
        if instruction.keyword in {"ENV", "ARG"} and any(
            name == "PIP_NO_CACHE_DIR" for name, _ in _pairs(instruction)
        ):
            return
    for stage in chain:
        for instruction in stage.find("RUN"):
            text = instruction.value
            if "pip" not in text or _cache_mount(instruction):
                continue
            lower = text.lower()
            if "pip cache purge" in lower or "pip cache remove" in lower:
                continue
            if re.search(r"\brm\s+-[a-z]*r[a-z]*\s+[^&;|]*\.cache", lower):
                continue
            segments = _run_segments(instruction)
            if any(
                _installs_with_pip(segment)
                and not any(word.startswith("--no-cache") for word in segment)
                for segment in segments
            ):
                ctx.report(
                    _pip_line(ctx, instruction),
                    "pip install without --no-cache-dir leaves pip's wheel cache in this layer, "
                    "making every pull on deploy, scale-up and rollback slower; add "
                    "--no-cache-dir (or ENV PIP_NO_CACHE_DIR=1, or a cache mount)",
                )


# -- DKR009 -----------------------------------------------------------------------------------

_PIP_VALUE_OPTIONS = frozenset(
    {
        "-r",
        "--requirement",
        "-c",
        "--constraint",
        "-e",
        "--editable",
        "-t",
        "--target",
        "--platform",
        "--python-version",
        "--implementation",
        "--abi",
        "--root",
        "--prefix",
        "--src",
        "--upgrade-strategy",
        "-i",
        "--index-url",
        "--extra-index-url",
        "-f",
        "--find-links",
        "--no-binary",
        "--only-binary",
        "--progress-bar",
        "--report",
        "-C",
        "--config-settings",
        "--global-option",
        "--trusted-host",
        "--cache-dir",
        "--log",
        "--proxy",
        "--retries",
        "--timeout",
        "--exists-action",
        "--cert",
        "--client-cert",
        "--python",
        "-p",
        "--keyring-provider",
        "--root-user-action",
        "--group",
        "--override",
        "--python-platform",
        "--index-strategy",
        "--resolution",
        "--prerelease",
        "--index",
        "--default-index",
        "-G",
        "-E",
        "--extras",
        "--source",
        "--markers",
        # uv pip spells some options its own way (plural) and adds its own, each with a value
        "--requirements",
        "--constraints",
        "--overrides",
        "--build-constraints",
        "-b",
        "--python-preference",
        "--link-mode",
        "--exclude-newer",
        "--fork-strategy",
        "--torch-backend",
        "--upgrade-package",
        "-P",
        "--reinstall-package",
        "--no-build-package",
        "--no-binary-package",
        "--config-file",
        "--directory",
        "--project",
        "--color",
        "--allow-insecure-host",
    }
)
_CONSTRAINED = frozenset(
    {"-c", "--constraint", "--constraints", "--override", "--overrides", "--no-index"}
)
_BOOTSTRAP = frozenset({"pip", "setuptools", "wheel"})
_CONSTRAINT_VARIABLES = frozenset({"PIP_CONSTRAINT", "UV_CONSTRAINT", "UV_OVERRIDE"})
_SPEC_END = re.compile(r"[\[@<>=~!;\s]")


def _installer(segment: list[str]) -> tuple[str, list[str]] | None:
    """``("pip" | "uv pip" | "poetry", arguments)`` of an install command, or None."""
    names = [_base(word) for word in segment]
    for position, name in enumerate(names):
        tool: str | None = None
        if re.fullmatch(r"pip(3(\.\d+)?)?", name):
            tool = "uv pip" if position > 0 and names[position - 1] == "uv" else "pip"
            if position > 0 and names[position - 1] == "pipx":
                return None
            subcommand = "install"
        elif name == "poetry":
            tool, subcommand = "poetry", "add"
        if tool is None:
            continue
        rest = position + 1
        while rest < len(segment) and segment[rest].startswith("-"):
            rest += 1  # global options (pip -q install, pip --no-cache-dir install)
        if rest < len(segment) and segment[rest] == subcommand:
            return tool, segment[rest + 1 :]
        return None
    return None


def _unpinned(tool: str, arguments: list[str]) -> list[str]:
    """The package specifiers of an install command that name a package without an exact
    version (paths, URLs, wheels, variables and the pip/setuptools/wheel bootstrap aside)."""
    from packaging.requirements import InvalidRequirement, Requirement

    found: list[str] = []
    skip_next = False
    for position, word in enumerate(arguments):
        if skip_next:
            skip_next = False
            continue
        if word.startswith("#"):
            break
        if word.startswith("-"):
            option = word.partition("=")[0]
            if option in _CONSTRAINED:
                return []  # versions come from a constraints file or a local wheelhouse
            if option in _PIP_VALUE_OPTIONS and "=" not in word:
                skip_next = True
            continue
        if arguments[position + 1 : position + 2] == ["@"] or word == "@":
            skip_next = word == "@"
            continue  # a direct reference: ``name @ url``
        if (
            "$" in word
            or "/" in word
            or "\\" in word
            or word.startswith((".", "~"))
            or word.endswith((".whl", ".zip", ".tar.gz", ".tgz"))
        ):
            continue
        if tool == "poetry":
            name, at, version = word.partition("@")
            if at and re.fullmatch(r"=?=?\d[\w.+!-]*", version):
                continue  # poetry add name@1.2.3 is an exact version
            word = name if at else word
        try:
            requirement = Requirement(word)
        except InvalidRequirement:
            continue
        if requirement.url or requirement.name.lower() in _BOOTSTRAP:
            continue
        clauses = list(requirement.specifier)
        if len(clauses) == 1 and (
            clauses[0].operator == "===" or (clauses[0].operator == "==" and "*" not in word)
        ):
            continue
        found.append(word)
    return found


def _shipped_stages(document: Dockerfile, final: Stage) -> list[Stage]:
    """The final stage's chain and, transitively, the stages it copies files from."""
    by_name = {stage.alias.lower(): stage for stage in document.stages if stage.alias}
    shipped: list[Stage] = []
    pending = [final]
    while pending:
        for stage in _chain(document, pending.pop()):
            if stage in shipped:
                continue
            shipped.append(stage)
            for copy in stage.find("COPY"):
                source = copy.flags.get("from", "").lower()
                origin = by_name.get(source)
                if origin is None and source.isdigit() and int(source) < len(document.stages):
                    origin = document.stages[int(source)]
                if origin is not None and origin not in shipped:
                    pending.append(origin)
    return sorted(shipped, key=lambda stage: stage.index)


@file_rule(
    kind=FileKind.DOCKERFILE,
    code="DKR009",
    name="dockerfile-pip-install-unpinned",
    category=Category.DEPENDENCIES,
    severity=Severity.MEDIUM,
    summary="pip/uv/poetry installs a named package without an exact version into the image",
    fix="Pin it (gunicorn==22.0.0) or install from a locked requirements file "
    "(pip install -r requirements.txt, generated by pip-compile or uv pip compile).",
)
def dockerfile_pip_install_unpinned(document: Dockerfile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags `RUN pip install <package>` (also `python -m pip`, `uv pip install`, `poetry add`)
    that names packages without an exact `==` version, in the final stage, the stages it is
    built from and the builder stages it copies files from. Requirement files (`-r`), local
    projects and wheels (`.`, `-e .`, `/wheels/*.whl`), URLs, versions from build arguments
    (`gunicorn==${GUNICORN_VERSION}`), installs constrained by `-c constraints.txt` or
    `PIP_CONSTRAINT`, `--no-index` installs from a local wheelhouse and the
    `pip`/`setuptools`/`wheel` bootstrap are accepted. Dev and test images are skipped.

    ## Why it breaks production
    An unpinned install resolves to whatever is newest on PyPI when the image is built. The
    commit that passed CI yesterday builds a different image today: a major release of
    gunicorn, a `urllib3` 2.x with dropped TLS options or a `poetry` that no longer accepts
    your flags arrives in a hotfix build, unreviewed and untested, and rebuilding an old
    release to roll back does not give back the old dependency set. A malicious release of a
    popular package goes straight into the image.

    ## Example
    ```dockerfile
    RUN pip install --no-cache-dir gunicorn "uvicorn[standard]>=0.29"
    ```

    ## Use instead
    ```dockerfile
    COPY requirements.txt .
    # requirements.txt generated by `uv pip compile` / `pip-compile --generate-hashes`
    RUN pip install --no-cache-dir --require-hashes -r requirements.txt
    ```
    """
    final = _production_stage(document)
    if final is None or _dev_dockerfile(ctx.path):
        return
    stages = _shipped_stages(document, final)
    for stage in _chain(document, final):
        for instruction in stage.find("ENV"):
            if any(name in _CONSTRAINT_VARIABLES and value for name, value in _pairs(instruction)):
                return
    for stage in stages:
        for instruction in stage.find("RUN"):
            if "pip" not in instruction.value and "poetry" not in instruction.value:
                continue
            loose: list[str] = []
            tools: list[str] = []
            for segment in _run_segments(instruction):
                if any(word.partition("=")[0] in _CONSTRAINT_VARIABLES for word in segment):
                    continue
                install = _installer(segment)
                if install is None:
                    continue
                found = _unpinned(*install)
                if found:
                    loose.extend(found)
                    tools.append(install[0])
            if not loose:
                continue
            names = ", ".join(f"`{word}`" for word in loose)
            command = "poetry add" if tools[0] == "poetry" else f"{tools[0]} install"
            package = _SPEC_END.split(loose[0])[0]
            first = re.compile(rf"(?<![\w.-]){re.escape(package)}")
            ctx.report(
                _text_line(ctx, instruction, first),
                f"`{command}` of {names} without an exact version: every build resolves the "
                "newest matching release, so two builds of the same commit ship different "
                "code and a rollback rebuild does not restore the old dependencies; pin `==` "
                "versions or install from a locked requirements file (-r, or -c constraints.txt)",
            )
