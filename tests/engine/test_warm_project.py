"""Warm rescans (issue 11, part 8): the project rules' shared facts are computed once per scan,
and the import -> installed distribution map (every installed distribution's metadata) is kept in
the cache directory while the ``sys.path`` directories are unchanged, so installing or removing a
distribution still changes the answer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from prodready.deps.existence import subjects
from prodready.deps.imports import Resolver
from prodready.deps.inventory import Inventory
from prodready.deps.model import DependencyManifests
from prodready.engine.module_record import ModuleRecord
from prodready.engine.project import ProjectFacts

# Run in a fresh interpreter each time: the map is computed once per process.
RESOLVE_FOO = (
    "import sys\n"
    "from pathlib import Path\n"
    "from prodready.deps.imports import Resolver\n"
    "from prodready.deps.model import DependencyManifests\n"
    "resolution = Resolver(DependencyManifests(), cache_dir=Path(sys.argv[1])).resolve('foo')\n"
    "print(resolution.origin, resolution.distribution)\n"
)


def _install_fake_foo(site: Path) -> Path:
    dist_info = site / "foo-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n")
    (dist_info / "top_level.txt").write_text("foo\n")
    (dist_info / "RECORD").write_text("foo/__init__.py,,\nfoo-1.0.dist-info/METADATA,,\n")
    (site / "foo").mkdir()
    (site / "foo" / "__init__.py").write_text("")
    return dist_info


def _resolve_foo(site: Path, cache_dir: Path) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run(
        [sys.executable, "-c", RESOLVE_FOO, str(cache_dir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=site,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_the_installed_distribution_map_is_cached_and_follows_installs(tmp_path: Path) -> None:
    site, cache_dir = tmp_path / "site", tmp_path / "cache"
    dist_info = _install_fake_foo(site)

    assert _resolve_foo(site, cache_dir) == "installed foo"
    saved = json.loads((cache_dir / "installed-top-levels.json").read_text("utf-8"))
    assert saved["top_levels"]["foo"] == ["foo"]
    # Unchanged: the next run answers from the cache file.
    assert _resolve_foo(site, cache_dir) == "installed foo"

    shutil.rmtree(dist_info)  # "pip uninstall foo" (the import package may linger)
    assert _resolve_foo(site, cache_dir) == "unknown foo"
    saved = json.loads((cache_dir / "installed-top-levels.json").read_text("utf-8"))
    assert "foo" not in saved["top_levels"]

    _install_fake_foo(tmp_path / "elsewhere")  # installed again, then moved into place
    shutil.move(tmp_path / "elsewhere" / "foo-1.0.dist-info", site / "foo-1.0.dist-info")
    assert _resolve_foo(site, cache_dir) == "installed foo"


def test_a_corrupt_cache_file_is_rebuilt(tmp_path: Path) -> None:
    site, cache_dir = tmp_path / "site", tmp_path / "cache"
    _install_fake_foo(site)
    cache_dir.mkdir()
    (cache_dir / "installed-top-levels.json").write_text("{not json", "utf-8")

    assert _resolve_foo(site, cache_dir) == "installed foo"
    saved = json.loads((cache_dir / "installed-top-levels.json").read_text("utf-8"))
    assert saved["top_levels"]["foo"] == ["foo"]


def test_without_a_cache_directory_nothing_is_written(tmp_path: Path) -> None:
    resolution = Resolver(DependencyManifests()).resolve("json")
    assert (resolution.origin, resolution.distribution) == ("stdlib", None)
    assert list(tmp_path.iterdir()) == []


def test_the_project_names_are_computed_once_per_scan(tmp_path: Path) -> None:
    project = ProjectFacts(
        tmp_path,
        {"app/main.py": ModuleRecord("main"), "docs/conf.py": ModuleRecord("", is_example=True)},
    )
    inventory = Inventory(DependencyManifests(), [], {})

    assert subjects(inventory, project) == []
    names, examples = project._memo["deps:project-names"]
    assert names == {"app", "main", "docs", "conf"}
    assert examples == {"docs/conf.py"}
    assert subjects(inventory, project) == []
    assert project._memo["deps:project-names"][0] is names


def _scan(project: Path, cache_dir: Path, *options: str) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "prodready", "scan", str(project), "--isolated"),
            *("--cache-dir", str(cache_dir), "--format", "json", "-o", os.devnull, *options),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")


def test_only_a_scan_with_the_result_cache_keeps_the_installed_map(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("import json\n")

    _scan(project, tmp_path / "uncached", "--no-cache")
    assert not (tmp_path / "uncached" / "installed-top-levels.json").exists()

    _scan(project, tmp_path / "cached")
    saved = json.loads((tmp_path / "cached" / "installed-top-levels.json").read_text("utf-8"))
    assert saved["top_levels"]["click"] == ["click"]  # a dependency of prodready
