"""`prodready probe` and `prodready gate`: the commands that run the service and the
release pipeline."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from prodready.cli.common import (
    GATE_FORMATS,
    _emit,
    _fail,
    _pairs,
    _split,
    _stdout_is_terminal,
    cli,
)
from prodready.model import ProdreadyError
from prodready.report import PROBE_FORMATS


@cli.command()
@click.option("--cmd", "command", help="Command that starts the service; it gets $PORT / {port}.")
@click.option(
    "--dep",
    "deps_given",
    multiple=True,
    metavar="NAME=ENVVAR[=tcp://HOST:PORT]",
    help="A dependency behind the fault proxy: a recording fake HTTP upstream, or a real server.",
)
@click.option("--openapi", help="OpenAPI document: URL, local file, or a path on the service.")
@click.option(
    "--config",
    "probe_config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Probe settings: prodready.toml, pyproject.toml or a probe TOML file "
    "[default: [probe] of ./prodready.toml, else [tool.prodready.probe] of ./pyproject.toml].",
)
@click.option("--only", multiple=True, help="Run only these checks (comma-separated ids).")
@click.option("--skip", multiple=True, help="Do not run these checks.")
@click.option("--budget", type=click.FloatRange(min=10), help="Cap on the whole run, in seconds.")
@click.option("--workers", type=click.IntRange(min=0), help="Locust worker processes for load.")
@click.option("--isolate", is_flag=True, default=None, help="Run the service under bubblewrap.")
@click.option(
    "--env",
    "env_given",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra environment variable for the service (the caller's own are not passed).",
)
@click.option(
    "--artifacts",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep the service's logs and the load statistics in this directory.",
)
@click.option(
    "--format", "fmt", type=click.Choice(PROBE_FORMATS), default="text", show_default=True
)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
@click.option("--color/--no-color", default=None)
def probe(
    command: str | None,
    deps_given: tuple[str, ...],
    openapi: str | None,
    probe_config: Path | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    budget: float | None,
    workers: int | None,
    isolate: bool | None,
    env_given: tuple[str, ...],
    artifacts: Path | None,
    fmt: str,
    output: Path | None,
    quiet: bool,
    color: bool | None,
) -> None:
    """Run the service in a sandbox, inject faults, drive load, and score what breaks.

    Exit 0 when every check passed or was skipped, 1 when one failed, 2 on usage errors or
    when the service could not be started.
    """
    from prodready.probe.runner import run_probe
    from prodready.probe.settings import (
        check_ids,
        load_settings,
        merge_deps,
        parse_dep_option,
    )
    from prodready.report import probe_renderer

    try:
        settings = load_settings(probe_config, Path.cwd())
        env = {**settings.env, **_pairs(env_given, "--env")}
        load = settings.load if workers is None else replace(settings.load, workers=workers)
        settings = replace(
            settings,
            cmd=command or settings.cmd,
            openapi=openapi or settings.openapi,
            deps=merge_deps(settings.deps, tuple(parse_dep_option(dep) for dep in deps_given)),
            only=check_ids(_split(only), "--only") or settings.only,
            skip=check_ids(_split(skip), "--skip") or settings.skip,
            budget_s=budget or settings.budget_s,
            isolate=settings.isolate if isolate is None else isolate,
            env=env,
            load=load,
        )
        # The configuration lives in the project: relative paths in its cmd start there.
        project_dir = probe_config.resolve().parent if probe_config else Path.cwd()
        from prodready.report.progress import StepProgress

        with StepProgress("probe", "check", len(settings.selected()), quiet=quiet) as progress:
            report = run_probe(
                settings, project_dir=project_dir, artifacts=artifacts, progress=progress
            )
    except ProdreadyError as exc:
        _fail(str(exc))
    use_color = _stdout_is_terminal() if color is None else color
    text = probe_renderer(fmt)(report, color=use_color and output is None)
    _emit(text, output)
    if output is not None and not quiet:
        click.echo(f"prodready probe: report written to {output}", err=True)
    sys.exit(report.exit_code)


@cli.command()
@click.argument(
    "project", required=False, type=click.Path(path_type=Path, file_okay=False, exists=True)
)
@click.option("--base", help="Change range start [default: merge-base with the default branch].")
@click.option("--stages", "only", multiple=True, help="Run only these stages (comma-separated).")
@click.option("--skip", multiple=True, help="Skip these stages.")
@click.option("--keep-going", is_flag=True, default=None, help="Run every stage after a failure.")
@click.option(
    "--config",
    "gate_config",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="prodready.toml or pyproject.toml [default: the project's].",
)
@click.option("--format", "fmt", type=click.Choice(GATE_FORMATS), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--sarif",
    "sarif_output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write all findings as SARIF to this file.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
@click.option("--color/--no-color", default=None)
def gate(
    project: Path | None,
    base: str | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    keep_going: bool | None,
    gate_config: Path | None,
    fmt: str,
    output: Path | None,
    sarif_output: Path | None,
    quiet: bool,
    color: bool | None,
) -> None:
    """Run the release pipeline: lint, scan, dependencies, tests, performance, sandbox,
    approval, release - stricter for AI-assisted commits.

    Exit 0 when the release is allowed, 1 when it is blocked, 2 on configuration errors.
    """
    from prodready.gate.runner import run_gate
    from prodready.gate.settings import load_gate_and_probe_settings
    from prodready.report import gate_renderer

    root = (project or Path.cwd()).resolve()

    try:
        from prodready.gate.model import STAGES, canonical_stage
        from prodready.report.progress import StepProgress

        # The probe's section too: it runs in the performance and sandbox stages.
        settings = load_gate_and_probe_settings(root, gate_config)
        wanted = {canonical_stage(name) for name in _split(only)}
        unwanted = {canonical_stage(name) for name in _split(skip)}
        selected = [
            stage
            for stage in STAGES
            if stage != "release"  # decided from the others, reported without a "stage" line
            and (not wanted or stage in wanted)
            and stage not in unwanted
            and settings.stage(stage).enabled
        ]
        with StepProgress("gate", "stage", len(selected), quiet=quiet) as progress:
            report = run_gate(
                root,
                settings,
                base=base,
                only=_split(only),
                skip=_split(skip),
                keep_going=keep_going,
                progress=progress,
            )
    except ProdreadyError as exc:
        _fail(str(exc))
    use_color = _stdout_is_terminal() if color is None else color
    _emit(gate_renderer(fmt)(report, color=use_color and output is None), output)
    if sarif_output is not None:
        _emit(gate_renderer("sarif")(report), sarif_output)
    if not quiet:
        verdict = "allowed" if report.released else "blocked"
        click.echo(f"prodready gate: release {verdict}; artifacts in {report.run_dir}", err=True)
    sys.exit(report.exit_code)
