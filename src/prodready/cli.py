"""The ``prodready`` command line.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it; 2 usage or
configuration errors (and analysis errors with ``--strict``); 3 an internal error, a bug in
prodready. Every error the user can fix is a ``ProdreadyError`` and is printed as one
``prodready: error: ...`` line; any other exception escaping a command is printed as one
``prodready: internal error: ...`` line asking for a bug report, with the traceback only when
``PRODREADY_DEBUG=1`` (``-v`` already means "print notes" on scan and deps, and a bug can
strike before the options are parsed). Ctrl-C exits 130, SIGTERM during a probe 143.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from prodready import __version__
from prodready.model import Confidence, Config, ConfigError, ProdreadyError, Severity
from prodready.probe.model import ProbeTerminated
from prodready.report import FORMATS, PROBE_FORMATS

if TYPE_CHECKING:
    from prodready.engine.registry import Registry

F = TypeVar("F", bound=Callable[..., Any])

SEVERITIES = [severity.value for severity in Severity]
CONFIDENCES = [confidence.value for confidence in Confidence]
GATE_FORMATS = ("text", "json", "markdown", "sarif", "html")
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
DEBUG_ENV = "PRODREADY_DEBUG"


def _fail(message: str) -> NoReturn:
    # A configuration with several mistakes reports each on its own line.
    for line in message.splitlines() or [message]:
        click.echo(f"prodready: error: {line}", err=True)
    sys.exit(EXIT_USAGE)


def _split(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="prodready")
def cli() -> None:
    """prodready: catch what breaks AI-written Python services in production."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point: exit codes stay meaningful for interrupts and closed pipes too."""
    try:
        code = cli.main(args=argv, prog_name="prodready", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("prodready: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("prodready: interrupted", err=True)
        sys.exit(130)
    except ProbeTerminated as exc:  # SIGTERM during a probe, after its cleanup
        click.echo("prodready: terminated", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        # The reader went away (``prodready scan | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_FINDINGS)
    except ProdreadyError as exc:  # one a command did not catch itself: still the user's to fix
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - anything else is a bug: say so, not a bare traceback
        _internal_error(exc)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _internal_error(exc: Exception) -> NoReturn:
    """One line naming the exception and asking for a report; the traceback on demand only."""
    debug = os.environ.get(DEBUG_ENV, "") not in {"", "0"}
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    message = " ".join(str(exc).split()) or "(no message)"  # one line, whatever it holds
    hint = "" if debug else f" (set {DEBUG_ENV}=1 to see the traceback)"
    click.echo(
        f"prodready: internal error: {type(exc).__name__}: {message} - this is a bug in "
        f"prodready; please report it with the command you ran{hint}",
        err=True,
    )
    sys.exit(EXIT_INTERNAL)


def _config_options(function: F) -> F:
    function = click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Configuration file (prodready.toml or pyproject.toml); default: nearest one.",
    )(function)
    function = click.option(
        "--isolated", is_flag=True, help="Ignore configuration files; use defaults and flags."
    )(function)
    return function


@dataclass(frozen=True, slots=True)
class ReportChoices:
    """The report options scan and deps share (see ``_report_options``)."""

    statistics: bool = False
    exit_zero: bool = False
    sarif_all_rules: bool = False
    verbose: bool = False


STATISTICS_FORMATS = ("text", "concise")


def _report_options(function: F) -> F:
    """--statistics, --exit-zero, --sarif-all-rules and -v, handed over as one ``report``."""

    @functools.wraps(function)
    def wrapper(
        *args: Any,
        statistics: bool,
        exit_zero: bool,
        sarif_all_rules: bool,
        verbose: bool,
        **kwargs: Any,
    ) -> Any:
        fmt = kwargs.get("fmt")
        if statistics and fmt not in STATISTICS_FORMATS:
            _fail(f"--statistics prints counts per rule as text; it cannot make --format {fmt}")
        report = ReportChoices(statistics, exit_zero, sarif_all_rules, verbose)
        return function(*args, report=report, **kwargs)

    decorated: Any = wrapper
    for option in reversed(
        [
            click.option(
                "--statistics",
                is_flag=True,
                help="Print how many findings each rule produced instead of the findings.",
            ),
            click.option(
                "--exit-zero",
                is_flag=True,
                help="Exit 0 even with findings (usage errors and --strict still exit 2).",
            ),
            click.option(
                "--sarif-all-rules",
                is_flag=True,
                help="SARIF: describe every enabled rule, not only the rules that fired.",
            ),
            click.option(
                "-v", "--verbose", is_flag=True, help="Print notes (index, advisories) on stderr."
            ),
        ]
    ):
        decorated = option(decorated)
    result: F = decorated
    return result


def config_file(config_path: Path | None, paths: tuple[Path, ...]) -> Path | None:
    """The configuration file in use: the one given, else the nearest to the first path."""
    from prodready.config import find_config

    if config_path is not None and not config_path.is_file():
        raise ConfigError(f"configuration file not found: {config_path}")
    start = paths[0] if paths else Path.cwd()
    return config_path or find_config(start.resolve() if start.exists() else Path.cwd())


def load_effective_config(
    config_path: Path | None,
    paths: tuple[Path, ...],
    isolated: bool,
    registry: Registry | None = None,
) -> Config:
    """The configuration file's settings; with ``registry``, its rule selectors checked too
    (so that an unknown rule is reported with the file that names it)."""
    from prodready.config import check_selectors, load_config

    if isolated:
        return Config()
    try:
        config = load_config(config_file(config_path, paths))
    except ConfigError as exc:
        if registry is None or exc.partial is None:
            raise
        try:  # the unknown rules of a file with other mistakes too: all of them in one run
            check_selectors(exc.partial, registry)
        except ConfigError as rules_exc:
            raise ConfigError(f"{exc}\n{rules_exc}") from exc
        raise
    if registry is not None:
        check_selectors(config, registry)
    return config


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


def _scan_registry(targets: list[Path], root: Path | None, *, plugins: bool) -> Registry:
    """The registry the scan would build (rule packs inside the scanned tree stay unloaded),
    built here to check the configuration's rule selectors against it first."""
    from prodready.engine.registry import Registry
    from prodready.engine.runner import decide_root

    scan_root = str(decide_root(targets, root))
    return Registry.default(plugins=plugins, untrusted_roots=[scan_root])


def _report_and_exit(
    result: Any,
    config: Config,
    fmt: str,
    output: Path | None,
    color: bool | None,
    strict: bool,
    extra_json: dict[str, Any] | None = None,
    *,
    choices: ReportChoices,
    command: str = "scan",
) -> NoReturn:
    from prodready.report import renderer

    use_color = color if color is not None else (output is None and _stdout_is_terminal())
    if choices.statistics:
        from prodready.report.statistics import render_statistics

        text = render_statistics(result)
    elif fmt == "sarif":
        from prodready.report.sarif_format import render as render_sarif

        text = render_sarif(result, all_rules=choices.sarif_all_rules)
    else:
        text = renderer(fmt)(result, color=bool(use_color) and fmt == "text")
    if extra_json and fmt == "json":
        import json

        document = json.loads(text)
        document.update(extra_json)
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    _emit(text, output)
    _print_notes(result.notes, verbose=choices.verbose, summary=command == "deps")
    if result.errors and fmt == "concise":
        from prodready.report.concise_format import display_path, one_line

        for error in result.errors:
            where = display_path(result.root, error.path) + (f":{error.line}" if error.line else "")
            click.echo(f"{where}: error: {one_line(error.message)}", err=True)
    elif result.errors and (fmt != "text" or choices.statistics):
        click.echo(
            f"prodready: {len(result.errors)} file(s) could not be analysed (see 'errors')",
            err=True,
        )
    if strict and result.errors:
        sys.exit(EXIT_USAGE)
    if choices.exit_zero:
        sys.exit(EXIT_OK)
    sys.exit(EXIT_FINDINGS if result.failing(config.fail_on) else EXIT_OK)


def _print_notes(notes: list[str], *, verbose: bool, summary: bool) -> None:
    """Notes (what could not be verified offline, ...) only with -v; ``deps``, whose whole
    job they concern, says in one line that there are some."""
    if verbose:
        for note in notes:
            click.echo(f"prodready: note: {note}", err=True)
    elif notes and summary:
        plural = "s" if len(notes) != 1 else ""
        click.echo(f"prodready: {len(notes)} note{plural} (run with -v to see them)", err=True)


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
    extra = {
        "dependencies": result.artifacts.get("dependencies", []),
        "notes": result.notes,
    }
    _report_and_exit(
        result, config, fmt, output, color, strict, extra, choices=report, command="deps"
    )


def _stdout_is_terminal() -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty()


def _emit(text: str, output: Path | None) -> None:
    if output is None or str(output) == "-":  # `-o -`: standard output, as most tools read it
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from prodready.report.output import write_report

    try:
        write_report(text, output)
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror or exc}")


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "markdown"]),
    default="table",
    show_default=True,
)
@click.option("--select", multiple=True, help="Only rules matching these selectors.")
@click.option("--no-plugins", is_flag=True, help="Only the built-in rules.")
def rules(fmt: str, select: tuple[str, ...], no_plugins: bool) -> None:
    """List the rule catalog."""
    from prodready.engine.registry import Registry

    try:
        registry = Registry.default(plugins=not no_plugins)
        chosen = registry.select(Config(select=_split(select))) if select else list(registry)
    except ProdreadyError as exc:
        _fail(str(exc))
    if fmt == "json":
        import json

        click.echo(json.dumps([rule.to_dict() for rule in chosen], indent=2))
    elif fmt == "markdown":
        from prodready.report.catalog import render_markdown

        click.echo(render_markdown(chosen), nl=False)
    else:
        from prodready.report.catalog import render_table

        click.echo(render_table(chosen, color=_stdout_is_terminal()), nl=False)


def _complete_rule(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    """Shell completion of rule codes and names (`prodready explain RES<TAB>`)."""
    from prodready.engine.registry import Registry

    try:
        registry = Registry.default()
    except ProdreadyError:
        return []
    wanted = incomplete.lower()
    return [
        click.shell_completion.CompletionItem(value, help=rule.summary)
        for rule in registry
        for value in (rule.code, rule.name)
        if value.lower().startswith(wanted)
    ]


@cli.command()
@click.argument("rule", shell_complete=_complete_rule)
def explain(rule: str) -> None:
    """Show a rule's documentation (by code or name)."""
    import difflib

    from prodready.engine.registry import Registry

    try:
        registry = Registry.default()
    except ProdreadyError as exc:
        _fail(str(exc))
    found = registry.get(rule)
    if found is None:
        names = [r.code for r in registry] + [r.name for r in registry]
        close = difflib.get_close_matches(rule, names, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        _fail(f"no rule {rule!r}{hint}; `prodready rules` lists them")
    header = f"{found.code} {found.name}"
    meta = (
        f"category: {found.category.value}   severity: {found.severity.value}   "
        f"confidence: {found.confidence.value}"
        + (f"   CWE-{found.cwe}" if found.cwe else "")
        + (f"   pack: {found.pack}" if found.pack != "builtin" else "")
    )
    click.echo(f"{header}\n{'=' * len(header)}\n{found.summary}\n{meta}\n\n{found.docs}\n")
    if found.fix:
        click.echo(f"Fix: {found.fix}")


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


@cli.command()
@click.argument(
    "project", required=False, type=click.Path(path_type=Path, file_okay=False, exists=True)
)
@click.option("--force", is_flag=True, help="Overwrite an existing configuration.")
def init(project: Path | None, force: bool) -> None:
    """Write a starter prodready.toml for this project (framework, tests, Docker, Kubernetes)."""
    from prodready.gate.init import write_config

    try:
        written = write_config((project or Path.cwd()).resolve(), force=force)
    except ProdreadyError as exc:
        _fail(str(exc))
    click.echo(f"prodready: wrote {written}; review it, then run `prodready gate`")


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    bash:  eval "$(prodready completion bash)"    (in ~/.bashrc)
    zsh:   eval "$(prodready completion zsh)"     (in ~/.zshrc)
    fish:  prodready completion fish > ~/.config/fish/completions/prodready.fish
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # every choice is a shell click supports
    script = completer(cli, {}, "prodready", "_PRODREADY_COMPLETE").source()
    click.echo(script.rstrip("\n"))


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs = {}
    for pair in values:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            _fail(f"{option} {pair!r}: write KEY=VALUE")
        pairs[key] = value
    return pairs


@cli.command("config")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@_config_options
def show_config(path: Path | None, config_path: Path | None, isolated: bool) -> None:
    """Print the effective configuration (and where it came from).

    Every section is validated - the scan settings and the [probe], [gate] and [policy]
    tables that `prodready probe` and `prodready gate` read - and every mistake is reported at
    once, one per line (exit 2).
    """
    from prodready.config import check_sections, config_to_toml, read_table
    from prodready.engine.registry import Registry

    paths = (path,) if path else ()
    try:
        source = None if isolated else config_file(config_path, paths)
        sections = read_table(source) if source else {}
        problems = check_sections(sections, str(source) if source else None)
        try:
            config = load_effective_config(config_path, paths, isolated, Registry.default())
        except ConfigError as exc:
            raise ConfigError("\n".join([str(exc), *problems])) from exc
        if problems:
            raise ConfigError("\n".join(problems))
    except ProdreadyError as exc:
        _fail(str(exc))
    origin = config.source or "defaults (no configuration file found)"
    text = config_to_toml(config, sections)
    checked = "every section validated: scan settings, probe, gate, policy"
    click.echo(f"# effective configuration from: {origin} ({checked})\n{text}", nl=False)


if __name__ == "__main__":
    main()
