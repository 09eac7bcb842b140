"""The ``prodready`` command line.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it; 2 usage or
configuration errors (and analysis errors with ``--strict``); 3 an internal error, a bug in
prodready. Every error the user can fix is a ``ProdreadyError`` and is printed as one
``prodready: error: ...`` line; any other exception escaping a command is printed as one
``prodready: internal error: ...`` line asking for a bug report, with the traceback only when
``PRODREADY_DEBUG=1`` (``-v`` already means "print notes" on scan and deps, and a bug can
strike before the options are parsed). A package prodready needs that is missing from the
Python it runs in is an installation error (exit 2), not a bug. Ctrl-C exits 130, SIGTERM
during a probe 143.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import NoReturn

import click

# The command modules register their commands on the group when imported.
from prodready.cli import catalog, scanning, services  # noqa: F401
from prodready.cli.common import DEBUG_ENV, EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK, _fail, cli
from prodready.model import ProdreadyError

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console entry point: exit codes stay meaningful for interrupts and closed pipes too."""
    # What a command allocates mostly lives until it ends (the rules, the cache's entries):
    # cyclic collections every 700 allocations keep traversing it for nothing -- some 40 ms of
    # a 0.3 s warm rescan. Young garbage is still collected, as in the worker processes.
    gc.set_threshold(50_000, 50, 100)
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
    except BrokenPipeError:
        # The reader went away (``prodready scan | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_FINDINGS)
    except ProdreadyError as exc:  # one a command did not catch itself: still the user's to fix
        _fail(str(exc))
    except ModuleNotFoundError as exc:
        # A dependency missing from this Python is the installation's fault, not a bug.
        if exc.name is None or exc.name.split(".")[0] == "prodready":
            _internal_error(exc)
        _fail(
            f"prodready needs the package {exc.name.split('.')[0]!r}, which is not installed in "
            f"this Python ({sys.executable}): install prodready with its dependencies "
            "(python -m pip install /path/to/prodready)"
        )
    except Exception as exc:  # noqa: BLE001 - anything else is a bug: say so, not a bare traceback
        _internal_error(exc)
    except BaseException as exc:
        if not _probe_terminated(exc):
            raise
        click.echo("prodready: terminated", err=True)  # SIGTERM during a probe, after its cleanup
        sys.exit(getattr(exc, "exit_code", 143))
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _probe_terminated(exc: BaseException) -> bool:
    """Whether ``exc`` is the probe's ``ProbeTerminated``. Only a probe loads its module: every
    other command (a scan) is spared importing it."""
    probe = sys.modules.get("prodready.probe.model")
    return probe is not None and isinstance(exc, probe.ProbeTerminated)


def _internal_error(exc: Exception) -> NoReturn:
    """One line naming the exception and asking for a report; the traceback on demand only."""
    debug = os.environ.get(DEBUG_ENV, "") not in {"", "0"}
    if debug:
        import traceback  # only here: it costs start-up time on every run

        traceback.print_exception(exc, file=sys.stderr)
    message = " ".join(str(exc).split()) or "(no message)"  # one line, whatever it holds
    hint = "" if debug else f" (set {DEBUG_ENV}=1 to see the traceback)"
    click.echo(
        f"prodready: internal error: {type(exc).__name__}: {message} - this is a bug in "
        f"prodready; please report it with the command you ran{hint}",
        err=True,
    )
    sys.exit(EXIT_INTERNAL)
