"""One exception root: every error a user can fix is a ProdreadyError (exit 2, one line); any
other exception escaping a command is a bug (exit 3, one line asking for a report)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import run_cli

from prodready.model import Config, ConfigError, ProdreadyError

# Exceptions that are internal control flow and never leave their module, so they stay outside
# the ProdreadyError tree. Keyed by class name so that moving a module does not break the list;
# a class that is added, removed or renamed must be decided here.
INTERNAL = {
    # a rule's crash, recorded as a scan error: it reports a bug, never a user's mistake
    "RuleCrash",
    # SIGTERM during a probe: a BaseException like KeyboardInterrupt, main() exits 143 on it
    "ProbeTerminated",
    # ends Hypothesis generation when the probe's deadline passes
    "_DeadlineReached",
    # the fake upstream's 4xx answer to a malformed request
    "_BadRequest",
    # an advisory service that stopped answering, and its HTTP status: become notes
    "_Unreachable",
    "_HTTPStatus",
    # a rewrite of newer syntax that did not land where expected: the rewrites are redone one
    # parser error at a time
    "_Unverified",
}

# Each ProdreadyError subclass and its direct base: the categories a newcomer reads in
# ProdreadyError's docstring.
HIERARCHY = {
    "ConfigError": ["ProdreadyError"],
    "PackLoadError": ["ConfigError"],
    "UsageError": ["ProdreadyError"],
    "GitUnavailable": ["UsageError"],
    "DocumentError": ["ProdreadyError"],
    "NewerSyntaxError": ["DocumentError"],
    "DependencyError": ["ProdreadyError"],
    "AdvisoriesUnavailable": ["DependencyError"],
    "BadRecord": ["DependencyError", "ValueError"],
    "UnsafeFile": ["DependencyError"],
    "TooLarge": ["DependencyError"],
    "ProbeError": ["ProdreadyError"],
    "GateError": ["ProdreadyError"],
}

# Imports every module of the package in a fresh interpreter (a probe module's side effects
# stay out of the test process) and lists each exception class the package defines.
_LIST_EXCEPTIONS = textwrap.dedent(
    """\
    import importlib, inspect, json, pkgutil
    import prodready
    from prodready.model import ProdreadyError

    found = {}
    for info in pkgutil.walk_packages(prodready.__path__, "prodready."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__.split(".")[0] == "prodready"
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = {
                    "name": value.__name__,
                    "root": issubclass(value, ProdreadyError),
                    "bases": [base.__name__ for base in value.__bases__],
                }
    print(json.dumps(found))
    """
)


def _defined_exceptions() -> dict[str, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", _LIST_EXCEPTIONS],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found: dict[str, dict[str, object]] = json.loads(done.stdout)
    return found


def test_every_exception_class_is_a_prodready_error_or_listed_as_internal() -> None:
    found = _defined_exceptions()
    outside = {info["name"] for info in found.values() if not info["root"]}
    assert outside == INTERNAL, "join the ProdreadyError tree, or list the class in INTERNAL"
    below_root = {
        str(info["name"]): info["bases"]
        for where, info in found.items()
        if info["root"] and where != "prodready.model.ProdreadyError"
    }
    assert below_root == HIERARCHY


def test_config_error_keeps_what_could_be_read() -> None:
    partial = Config(select=("RES",))
    error = ConfigError("bad key", partial=partial)
    assert isinstance(error, ProdreadyError)
    assert (str(error), error.partial) == ("bad key", partial)
    assert ConfigError("bad key").partial is None


def test_a_configuration_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = run_cli(["scan", "--no-cache", "--config", "missing.toml"], tmp_path)
    assert done.returncode == 2
    assert done.stderr == "prodready: error: configuration file not found: missing.toml\n"


def _error_class(name: str) -> type[ProdreadyError]:
    from prodready.deps.model import DependencyError
    from prodready.engine.documents import DocumentError
    from prodready.engine.git import GitUnavailable
    from prodready.gate.model import GateError
    from prodready.probe.model import ProbeError

    classes: dict[str, type[ProdreadyError]] = {
        "DocumentError": DocumentError,
        "DependencyError": DependencyError,
        "GitUnavailable": GitUnavailable,
        "GateError": GateError,
        "ProbeError": ProbeError,
    }
    return classes[name]


@pytest.mark.parametrize(
    "name", ["DocumentError", "DependencyError", "GitUnavailable", "GateError", "ProbeError"]
)
def test_any_prodready_error_from_a_command_is_one_line_and_exit_2(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Raised inside the scan command's own try (where only ConfigError and UsageError were
    caught before) and while rendering, outside any command's try: main() catches the root."""
    import prodready.config
    import prodready.report
    from prodready.cli import main

    error = _error_class(name)
    (tmp_path / "app.py").write_text("VALUE = 1\n")
    monkeypatch.chdir(tmp_path)

    def config_fails(*args: object, **kwargs: object) -> None:
        raise error(f"{name} while reading the configuration")

    with monkeypatch.context() as patch:
        patch.setattr(prodready.config, "find_config", config_fails)
        with pytest.raises(SystemExit) as exited:
            main(["scan", "--no-cache", "."])
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"prodready: error: {name} while reading the configuration\n"

    def render_fails(fmt: str) -> None:
        raise error(f"{name} while rendering")

    monkeypatch.setattr(prodready.report, "renderer", render_fails)
    with pytest.raises(SystemExit) as exited:
        main(["scan", "--no-cache", "."])
    assert exited.value.code == 2
    assert capsys.readouterr() == ("", f"prodready: error: {name} while rendering\n")


_BUG = textwrap.dedent(
    """\
    import sys

    import prodready.config
    from prodready.cli import main


    def find_config(start):
        raise RuntimeError("config table missing\\n  after a refactoring")


    prodready.config.find_config = find_config  # a bug in prodready, simulated
    main(sys.argv[1:])
    """
)
BUG_LINE = (
    "prodready: internal error: RuntimeError: config table missing after a refactoring - this "
    "is a bug in prodready; please report it with the command you ran"
)


def _run_bug(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "app.py").write_text("VALUE = 1\n")
    environment = {key: value for key, value in os.environ.items() if key != "PRODREADY_DEBUG"}
    return subprocess.run(
        [sys.executable, "-c", _BUG, "scan", "--no-cache", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**environment, **env},
        check=False,
    )


def test_an_unexpected_exception_is_reported_as_a_bug_without_a_traceback(tmp_path: Path) -> None:
    done = _run_bug(tmp_path)
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr == f"{BUG_LINE} (set PRODREADY_DEBUG=1 to see the traceback)\n"


def test_prodready_debug_adds_the_traceback(tmp_path: Path) -> None:
    done = _run_bug(tmp_path, PRODREADY_DEBUG="1")
    assert (done.returncode, done.stdout) == (3, "")
    lines = done.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-3:] == [
        "RuntimeError: config table missing",
        "  after a refactoring",
        BUG_LINE,
    ]
    assert '  File "<string>", line 8, in find_config' in lines


def test_ctrl_c_is_still_an_interrupt_not_a_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import prodready.config
    from prodready.cli import main

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(prodready.config, "find_config", interrupted)
    with pytest.raises(SystemExit) as exited:
        main(["scan", "--no-cache", "."])
    assert exited.value.code == 130
    # click ends the interrupted line first, then main() says why it stops
    assert capsys.readouterr().err == "\nprodready: interrupted\n"


def test_a_missing_dependency_is_an_installation_error_not_a_bug(tmp_path: Path) -> None:
    """A Python without one of prodready's packages (here pathspec made unimportable) gets a
    message that says what to install, exit 2 -- not a request to report a bug."""
    code = (
        "import sys\n"
        "sys.modules['pathspec'] = None  # as if the package were not installed\n"
        "from prodready.cli import main\n"
        "main(['scan', '--no-cache', '.'])\n"
    )
    (tmp_path / "app.py").write_text("VALUE = 1\n", encoding="utf-8")
    (tmp_path / ".gitignore").write_text("build/\n", encoding="utf-8")  # read with pathspec
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "prodready: error: prodready needs the package 'pathspec', which is not installed in "
        f"this Python ({sys.executable}): install prodready with its dependencies "
        "(python -m pip install /path/to/prodready)\n"
    )
