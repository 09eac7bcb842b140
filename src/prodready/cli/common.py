"""Shared pieces of the command line: the command group, option sets, configuration
loading, report output and exit codes."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from prodready import __version__
from prodready.model import Confidence, Config, ConfigError, DependencyReport, Severity

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


def warn_redirected(registry: Registry, selectors: Iterable[str]) -> None:
    """One warning line per old rule code the user wrote (in the configuration or on the
    command line): it still works, through the catalog's redirects, but should be updated."""
    warned: set[str] = set()
    for selector in selectors:
        old = selector.strip().upper()
        new = registry.redirected(old)
        if new is None or old in warned:
            continue
        warned.add(old)
        click.echo(
            f"prodready: warning: {old} is now {new} ({registry.rules[new].name}); "
            "use the new code",
            err=True,
        )


def config_selectors(*configs: Config) -> list[str]:
    """The rule selectors of configurations, as written (for ``warn_redirected``)."""
    from prodready.config import rule_selectors

    return [selector for config in configs for _, selector in rule_selectors(config)]


def _scan_registry(targets: list[Path], root: Path | None, *, plugins: bool) -> Registry:
    """The registry the scan would build (rule packs inside the scanned tree stay unloaded),
    built here to check the configuration's rule selectors against it first."""
    from prodready.catalog import default_registry
    from prodready.engine.runner import decide_root

    scan_root = str(decide_root(targets, root))
    return default_registry(plugins=plugins, untrusted_roots=[scan_root])


def _report_and_exit(
    result: Any,
    config: Config,
    fmt: str,
    output: Path | None,
    color: bool | None,
    strict: bool,
    dependencies: DependencyReport | None = None,
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
    elif fmt == "json":
        from prodready.report.json_format import render as render_json

        text = render_json(result, dependencies=dependencies)
    else:
        text = renderer(fmt)(result, color=bool(use_color) and fmt == "text")
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


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs = {}
    for pair in values:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            _fail(f"{option} {pair!r}: write KEY=VALUE")
        pairs[key] = value
    return pairs
