"""The safe setup for untrusted pull requests: ``--config`` taken from the base branch governs
every stage, so the pull request's own prodready.toml can neither choose the commands the gate
runs nor switch rules off."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# One finding (RES001): the address comes from the caller and the status is checked.
SERVICE = """\
import requests


def price(url: str) -> float:
    response = requests.get(url)
    response.raise_for_status()
    return float(response.json()["price"])
"""


def test_the_base_branch_configuration_governs_commands_and_rules(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "service.py").write_text(SERVICE, encoding="utf-8")
    # What a hostile pull request would commit: its own lint command, and the rule it trips off.
    (repo / "prodready.toml").write_text(
        'ignore = ["RES001"]\n\n[gate.stage.lint]\n'
        f"command = '{sys.executable} -c \"open(\\'pr-command-ran\\', \\'w\\')\"'\n",
        encoding="utf-8",
    )
    base = tmp_path / "gate.toml"  # e.g. git show origin/main:prodready.toml > gate.toml
    base.write_text(
        f"[gate.stage.lint]\ncommand = '{sys.executable} -c \"print(0)\"'\n", encoding="utf-8"
    )
    done = subprocess.run(
        [sys.executable, "-m", "prodready", "gate", str(repo), "--config", str(base),
         "--stages", "lint,security", "--keep-going", "--format", "json", "-q"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert not (repo / "pr-command-ran").exists()
    assert [f["rule"] for f in report["findings"] if f["path"] == "service.py"] == ["RES001"]
