"""`prodready scan` and `prodready deps`."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from prodready.cli.common import (
    CONFIDENCES,
    EXIT_OK,
    SEVERITIES,
    ReportChoices,
    _config_options,
    _fail,
    _report_and_exit,
    _report_options,
    _scan_registry,
    _split,
    cli,
    config_selectors,
    load_effective_config,
    warn_redirected,
)
from prodready.model import Confidence, Config, DependencyReport, ProdreadyError, Severity
from prodready.report import FORMATS


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write the report here."
)
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITIES),
    help="Exit 1 at or above this severity [default: high].",
)
@click.option(
    "--min-confidence", type=click.Choice(CONFIDENCES), help="Drop findings less certain than this."
)
@click.option(
    "--select", multiple=True, help="Only these rules (codes, prefixes, names, categories)."
)
@click.option("--ignore", multiple=True, help="Skip these rules (added to the configured ones).")
@click.option("--exclude", multiple=True, help="Gitignore-style patterns to skip (added).")
@click.option(
    "-j", "--jobs", type=click.IntRange(min=1), help="Worker processes [default: all cores]."
)
@click.option("--no-cache", is_flag=True, help="Analyse every file, ignoring the result cache.")
@click.option(
    "--cache-dir", type=click.Path(path_type=Path, file_okay=False), help="Cache location."
)
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Report paths relative to this directory.",
)
@click.option(
    "--baseline",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Report only findings not in this baseline.",
)
@click.option(
    "--write-baseline",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Record current findings as the baseline and exit 0.",
)
@click.option(
    "--diff",
    "diff_ref",
    metavar="REF",
    help="Only findings on lines changed since the merge-base with REF.",
)
@click.option("--strict", is_flag=True, help="Exit 2 when any file could not be analysed.")
@click.option("--no-plugins", is_flag=True, help="Load only the built-in rules.")
@click.option(
    "--color/--no-color", default=None, help="Force colour on or off [default: on a terminal]."
)
@_report_options
@_config_options
def scan(
    paths: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    fail_on: str | None,
    min_confidence: str | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    exclude: tuple[str, ...],
    jobs: int | None,
    no_cache: bool,
    cache_dir: Path | None,
    root: Path | None,
    baseline: Path | None,
    write_baseline: Path | None,
    diff_ref: str | None,
    strict: bool,
    no_plugins: bool,
    color: bool | None,
    config_path: Path | None,
    isolated: bool,
    report: ReportChoices,
) -> None:
    """Scan Python services, Dockerfiles, Kubernetes manifests and dependency files."""
    from prodready.config import check_selectors
    from prodready.engine.runner import ScanOptions
    from prodready.engine.runner import scan as run_scan
    from prodready.engine.runner import write_baseline as save_baseline

    targets = list(paths) or [Path(".")]
    try:
        registry = _scan_registry(targets, root, plugins=not no_plugins)
        config = load_effective_config(config_path, paths, isolated, registry)
        given = Config(select=_split(select), ignore=_split(ignore))
        check_selectors(given, registry, origin="command line")
        warn_redirected(registry, config_selectors(config, given))
        changes: dict[str, Any] = {}
        if select:
            changes["select"] = _split(select)
        if ignore:
            changes["ignore"] = config.ignore + _split(ignore)
        if exclude:
            changes["exclude"] = config.exclude + _split(exclude)
        if fail_on:
            changes["fail_on"] = Severity(fail_on)
        if min_confidence:
            changes["min_confidence"] = Confidence(min_confidence)
        config = replace(config, **changes)
        options = ScanOptions(
            targets=targets,
            root=root,
            jobs=jobs,
            use_cache=not no_cache,
            cache_dir=cache_dir,
            baseline=None if write_baseline else baseline,
            diff=diff_ref,
            plugins=not no_plugins,
            project_rules=not targets or not all(target.is_file() for target in targets),
        )
        from prodready.report.progress import DelayedProgress

        with DelayedProgress("scanning", unit="files") as bar:
            options.progress = bar.update
            result = run_scan(options, config, registry)
        if write_baseline is not None:
            save_baseline(write_baseline, result.findings)
            click.echo(
                f"prodready: wrote {len(result.findings)} findings to baseline {write_baseline}",
                err=True,
            )
            sys.exit(EXIT_OK)
    except ProdreadyError as exc:
        _fail(str(exc))

    _report_and_exit(result, config, fmt, output, color, strict, choices=report)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--fail-on", type=click.Choice(SEVERITIES), help="Exit 1 at or above this severity.")
@click.option("--offline", is_flag=True, help="Use only cached index answers; no network.")
@click.option(
    "--index-url", help="Package index (simple API base) [default: $PIP_INDEX_URL or PyPI]."
)
@click.option(
    "--advisory-db",
    type=click.Path(path_type=Path, exists=True),
    help="OSV advisory database: a directory or zip of JSON/YAML records.",
)
@click.option("-j", "--jobs", type=click.IntRange(min=1))
@click.option("--no-cache", is_flag=True, help="Re-analyse every file (index answers stay cached).")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--strict", is_flag=True, help="Exit 2 when any file could not be analysed.")
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Report paths relative to this directory.",
)
@click.option("--color/--no-color", default=None)
@_report_options
@_config_options
def deps(
    paths: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    fail_on: str | None,
    offline: bool,
    index_url: str | None,
    advisory_db: Path | None,
    jobs: int | None,
    no_cache: bool,
    cache_dir: Path | None,
    strict: bool,
    root: Path | None,
    color: bool | None,
    config_path: Path | None,
    isolated: bool,
    report: ReportChoices,
) -> None:
    """Validate dependencies: packages that do not exist, undeclared imports, pins, advisories."""
    from prodready.engine.runner import ScanOptions
    from prodready.engine.runner import scan as run_scan

    targets = list(paths) or [Path(".")]
    try:
        from prodready.deps.settings import check_environment, check_options

        check_options(index_url, str(advisory_db) if advisory_db else None)
        registry = _scan_registry(targets, root, plugins=True)
        config = load_effective_config(config_path, paths, isolated, registry)
        warn_redirected(registry, config_selectors(config))
        settings = replace(
            config.deps,
            online=not offline,
            index_url=index_url or config.deps.index_url,
            advisory_db=str(advisory_db) if advisory_db else config.deps.advisory_db,
        )
        check_environment(settings)
        config = replace(
            config,
            select=("dependencies", "DEP"),
            ignore=config.ignore,
            deps=settings,
            fail_on=Severity(fail_on) if fail_on else config.fail_on,
        )
        options = ScanOptions(
            targets=targets, root=root, jobs=jobs, use_cache=not no_cache, cache_dir=cache_dir
        )
        from prodready.report.progress import DelayedProgress

        with DelayedProgress("checking", unit="files") as bar:
            options.progress = bar.update
            result = run_scan(options, config, registry)
    except ProdreadyError as exc:
        _fail(str(exc))
    _report_and_exit(
        result,
        config,
        fmt,
        output,
        color,
        strict,
        DependencyReport.of(result),
        choices=report,
        command="deps",
    )
