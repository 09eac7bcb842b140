from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from prodready.catalog import default_registry
from prodready.engine.registry import Registry
from prodready.engine.runner import ScanOptions, scan
from prodready.model import Config, ScanResult

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
# Vendored (see tests/schemas/README.md): schema tests never depend on ../shared.
SARIF_SCHEMA = ROOT / "tests" / "schemas" / "sarif-schema-2.1.0.json"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-snapshots",
        action="store_true",
        default=False,
        help="rewrite tests/rules/<category>/fixtures/<CODE>/expected.json from the findings",
    )


@pytest.fixture(scope="session", autouse=True)
def _private_user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Scans keep their cache under $XDG_CACHE_HOME: the tests' stays out of the user's."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def registry() -> Registry:
    return default_registry(plugins=False)


ScanFn = Callable[..., ScanResult]


@pytest.fixture
def run_scan(registry: Registry) -> ScanFn:
    def run(
        target: Path,
        *,
        config: Config | None = None,
        root: Path | None = None,
        jobs: int = 1,
        use_cache: bool = False,
        **options: object,
    ) -> ScanResult:
        scan_options = ScanOptions(
            targets=[target],
            root=root or (target if target.is_dir() else target.parent),
            jobs=jobs,
            use_cache=use_cache,
            plugins=False,
            **options,  # type: ignore[arg-type]
        )
        return scan(scan_options, config or Config(), registry)

    return run


def run_cli(
    args: Sequence[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a subprocess (exit codes, stdout, stderr as users see them)."""
    return subprocess.run(
        [sys.executable, "-m", "prodready", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
