"""Third-party rule packs load through the ``prodready.rules`` entry-point group."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

from conftest import run_cli

PACK = textwrap.dedent(
    '''\
    import ast

    from prodready.plugin import Category, PythonContext, RulePack, Severity, python_rule


    @python_rule(
        code="ACM001",
        name="legacy-billing-client",
        category=Category.API_CONTRACT,
        severity=Severity.HIGH,
        summary="Calls the retired billing client",
        calls=("acme.billing.legacy.*",),
    )
    def legacy_billing(node: ast.Call, ctx: PythonContext) -> None:
        """
        ## What it does
        Flags calls into acme.billing.legacy.
        ## Why it breaks production
        The legacy billing API is switched off.
        ## Example
        ```python
        legacy.charge(1)
        ```
        ## Use instead
        ```python
        v2.charge(1)
        ```
        """
        ctx.report(node, "acme.billing.legacy is retired: use acme.billing.v2")


    PACK = RulePack("acme", [legacy_billing], version="1.0")
    '''
)


def _install_pack(site: Path) -> None:
    (site / "acme_rules").mkdir(parents=True)
    (site / "acme_rules" / "__init__.py").write_text(PACK)
    dist = site / "acme_rules-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-rules\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[prodready.rules]\nacme = acme_rules:PACK\n")


def _env(site: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return env


def test_installed_pack_rules_are_listed_and_run(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install_pack(site)
    project = tmp_path / "project"
    project.mkdir()
    (project / "billing.py").write_text("from acme.billing import legacy\nlegacy.charge(10)\n")
    env = _env(site)
    listed = json.loads(run_cli(["rules", "--format", "json"], project, env).stdout)
    acme = [rule for rule in listed if rule["code"] == "ACM001"]
    assert acme and acme[0]["pack"] == "acme"
    done = run_cli(["scan", "--no-cache", "--select", "ACM001", "--format", "json"], project, env)
    report = json.loads(done.stdout)
    assert done.returncode == 1
    assert [(f["rule"], f["line"]) for f in report["findings"]] == [("ACM001", 2)]
    without = run_cli(["scan", "--no-cache", "--no-plugins", "--select", "RES001"], project, env)
    assert without.returncode == 0


def test_a_broken_pack_is_a_clear_error(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install_pack(site)
    (site / "acme_rules" / "__init__.py").write_text(
        "raise ImportError('missing dependency foo')\n"
    )
    done = run_cli(["scan", "--no-cache"], tmp_path, _env(site))
    assert done.returncode == 2
    assert "rule pack 'acme'" in done.stderr and "missing dependency foo" in done.stderr
    assert "Traceback" not in done.stderr
