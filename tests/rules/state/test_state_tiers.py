"""State rules' tiers and project facts that one fixture directory cannot show: a rate limiter
whose storage the application configures elsewhere, local-run fallbacks reported low."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prodready.model import Config

_LIMITER_APP = """\
from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

app = Flask(__name__)
app.config.from_object("config")
limiter = Limiter(get_remote_address, app=app)
"""


def test_a_limiter_without_storage_uri_is_fine_when_the_app_configures_its_storage(
    run_scan, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(_LIMITER_APP)
    config = replace(Config(), select=("STA008",))
    alone = run_scan(tmp_path, config=config)
    assert [(f.path, f.line, f.severity.value) for f in alone.findings] == [("app.py", 7, "medium")]
    (tmp_path / "config.py").write_text('import os\n\nRATELIMIT_STORAGE_URI = os.environ["R"]\n')
    configured = run_scan(tmp_path, config=config)
    assert configured.findings == []


def test_local_run_fallbacks_are_low(run_scan) -> None:
    directory = Path(__file__).parent / "fixtures" / "STA008"
    result = run_scan(directory, config=replace(Config(), select=("STA008",)))
    tiers = {(f.path, f.line): f.severity.value for f in result.findings}
    assert tiers == {
        ("fastapi_app.py", 13): "medium",
        ("fastapi_app.py", 14): "medium",
        ("fastapi_app.py", 22): "low",
        ("flask_app.py", 8): "medium",
        ("flask_app.py", 10): "medium",
        ("flask_app.py", 11): "medium",
        ("flask_app.py", 12): "medium",
        ("flask_app.py", 18): "medium",
        ("fp_single_process_launcher/dev_entry/quotes/app.py", 10): "medium",
        ("shop/settings.py", 5): "medium",
        ("shop/settings.py", 8): "medium",
    }
