"""SEC016 evidence tier: a template read whole from a file whose path the request builds is
reported low (the request picks the file, the project wrote it); template text the request
sends stays critical."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from conftest import ScanFn

from prodready.model import Config

_VIEWS = """\
import os

from flask import Flask, render_template_string, request

app = Flask(__name__)


@app.route("/widgets/<widget>")
def widget(widget):
    text = open(os.path.join("widgets", widget, "widget.html")).read()
    return render_template_string(text)


@app.route("/preview", methods=["POST"])
def preview():
    return render_template_string(request.form["template"])
"""


def test_sec016_template_file_picked_by_the_request_is_low(
    run_scan: ScanFn, tmp_path: Path
) -> None:
    (tmp_path / "views.py").write_text(_VIEWS, encoding="utf-8")
    result = run_scan(tmp_path, config=replace(Config(), select=("SEC016",)))
    found = [(f.line, f.severity.value, f.confidence.value) for f in result.findings]
    assert found == [(11, "low", "low"), (16, "critical", "high")]
