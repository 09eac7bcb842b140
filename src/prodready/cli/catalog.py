"""Commands about the rules and the configuration: `rules`, `explain`, `completion`,
`config` and `init`."""

from __future__ import annotations

from pathlib import Path

import click

from prodready.cli.common import (
    _config_options,
    _fail,
    _split,
    _stdout_is_terminal,
    cli,
    config_file,
    config_selectors,
    load_effective_config,
    warn_redirected,
)
from prodready.model import Config, ConfigError, ProdreadyError


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
    from prodready.catalog import default_registry

    try:
        registry = default_registry(plugins=not no_plugins)
        chosen = registry.select(Config(select=_split(select))) if select else list(registry)
    except ProdreadyError as exc:
        _fail(str(exc))
    warn_redirected(registry, _split(select))
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
    from prodready.catalog import default_registry

    try:
        registry = default_registry()
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

    from prodready.catalog import default_registry

    try:
        registry = default_registry()
    except ProdreadyError as exc:
        _fail(str(exc))
    found = registry.get(rule)
    if found is None:
        names = [r.code for r in registry] + [r.name for r in registry]
        close = difflib.get_close_matches(rule, names, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        _fail(f"no rule {rule!r}{hint}; `prodready rules` lists them")
    warn_redirected(registry, [rule])
    header = f"{found.code} {found.name}"
    meta = (
        f"category: {found.category.value}   severity: {found.severity.value}   "
        f"confidence: {found.confidence.value}"
        + (f"   CWE-{found.cwe}" if found.cwe else "")
        + (f"   pack: {found.pack}" if found.pack != "builtin" else "")
        + (f"   formerly: {', '.join(found.redirected_from)}" if found.redirected_from else "")
    )
    click.echo(f"{header}\n{'=' * len(header)}\n{found.summary}\n{meta}\n\n{found.docs}\n")
    if found.fix:
        click.echo(f"Fix: {found.fix}")


@cli.command()
@click.argument(
    "project", required=False, type=click.Path(path_type=Path, file_okay=False, exists=True)
)
@click.option("--force", is_flag=True, help="Overwrite an existing configuration.")
def init(project: Path | None, force: bool) -> None:
    """Write a starter prodready.toml for this project (framework, tests, Docker, Kubernetes)."""
    from prodready.gate.scaffold import write_config

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


@cli.command("config")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@_config_options
def show_config(path: Path | None, config_path: Path | None, isolated: bool) -> None:
    """Print the effective configuration (and where it came from).

    Every section is validated - the scan settings and the [probe], [gate] and [policy]
    tables that `prodready probe` and `prodready gate` read - and every mistake is reported at
    once, one per line (exit 2).
    """
    from prodready.catalog import default_registry
    from prodready.config import check_sections, config_to_toml, read_table

    paths = (path,) if path else ()
    try:
        source = None if isolated else config_file(config_path, paths)
        sections = read_table(source) if source else {}
        problems = check_sections(sections, str(source) if source else None)
        try:
            registry = default_registry()
            config = load_effective_config(config_path, paths, isolated, registry)
        except ConfigError as exc:
            raise ConfigError("\n".join([str(exc), *problems])) from exc
        if problems:
            raise ConfigError("\n".join(problems))
    except ProdreadyError as exc:
        _fail(str(exc))
    warn_redirected(registry, config_selectors(config))
    origin = config.source or "defaults (no configuration file found)"
    text = config_to_toml(config, sections)
    checked = "every section validated: scan settings, probe, gate, policy"
    click.echo(f"# effective configuration from: {origin} ({checked})\n{text}", nl=False)
