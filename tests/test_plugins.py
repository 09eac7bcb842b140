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
    project = tmp_path / "project"
    project.mkdir()
    done = run_cli(["scan", "--no-cache"], project, _env(site))
    assert done.returncode == 2
    assert "rule pack 'acme'" in done.stderr and "missing dependency foo" in done.stderr
    assert "Traceback" not in done.stderr


EVIL = """\
from pathlib import Path

Path("MARKER").write_text("imported")
PACK = []
"""


def test_a_pack_declared_in_the_scanned_repository_is_not_loaded(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "evil.egg-info").mkdir(parents=True)
    (repo / "evil.egg-info" / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: evil\n")
    (repo / "evil.egg-info" / "entry_points.txt").write_text(
        "[prodready.rules]\nevil = evil:PACK\n"
    )
    (repo / "evil.py").write_text(EVIL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRODREADY_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    # A CI job may well put the checkout on the path itself.
    on_path = {**env, "PYTHONPATH": "."}
    for args in (["scan", "."], ["scan", "-v", "--no-cache", "."], ["rules"]):
        for environment in (env, on_path):
            done = run_cli(args, repo, environment)
            assert done.returncode == 0, done.stderr
            assert not (repo / "MARKER").exists(), args
    skipped = run_cli(["scan", "-v", "--no-cache", "."], repo, on_path)
    assert skipped.stderr == (
        "prodready: note: rule pack 'evil' (evil:PACK) was not loaded: it is declared inside "
        "the working directory or the scanned tree, not installed (set "
        "PRODREADY_TRUST_LOCAL_PLUGINS=1 to load it)\n"
    )
    # The user may opt in.
    trusted = run_cli(["rules"], repo, {**on_path, "PRODREADY_TRUST_LOCAL_PLUGINS": "1"})
    assert trusted.returncode == 0 and (repo / "MARKER").read_text() == "imported"


def test_modules_of_the_scanned_repository_do_not_shadow_libraries(tmp_path: Path) -> None:
    """``python -m prodready`` puts the working directory on sys.path; a committed
    ``pathspec.py`` must not be imported in place of the library."""
    shadow = (
        'from pathlib import Path\nPath("MARKER").write_text("imported")\nraise SystemExit(0)\n'
    )
    (tmp_path / "pathspec.py").write_text(shadow)
    (tmp_path / "yaml.py").write_text(shadow)
    (tmp_path / ".gitignore").write_text("*.log\n")
    (tmp_path / "api.py").write_text("import requests\nrequests.get('https://x')\n")
    (tmp_path / "deploy.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRODREADY_")}
    done = run_cli(["scan", "--no-cache", "--select", "RES001", "--format", "json"], tmp_path, env)
    assert not (tmp_path / "MARKER").exists()
    assert done.returncode == 1
    assert [f["rule"] for f in json.loads(done.stdout)["findings"]] == ["RES001"]
