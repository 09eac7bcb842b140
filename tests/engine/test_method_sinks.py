"""Sinks inside methods of a project class that a handler of another module feeds through an
instance (``Store(db).find(q)``, ``store = Store(db); store.find(q)``): reported only when a
caller passes request data, and not where the method removes every dot from a path part or
uses the parameter only inside ``if isinstance(param, Path):``."""

from __future__ import annotations

from pathlib import Path

from conftest import ScanFn

from prodready.model import Config

STORE = """from pathlib import Path


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, data: bytes | Path, extension: str) -> Path:
        clean = extension.replace(".", "")
        target = self.root.joinpath(f"original.{clean}")
        if isinstance(data, Path):
            target.write_bytes(open(data, "rb").read())
        return target

    def save_raw(self, name: str, data: bytes) -> Path:
        target = self.root / name
        with open(target, "wb") as handle:
            handle.write(data)
        return target
"""
VIEWS = """from flask import Flask, request

from media.store import ImageStore

app = Flask(__name__)


@app.post("/images")
def upload():
    store = ImageStore(app.config["MEDIA"])
    store.save(request.files["image"].read(), request.form["extension"])
    ImageStore(app.config["MEDIA"]).save_raw(request.form["name"], b"")
    return {"ok": True}
"""


def _project(root: Path, files: dict[str, str]) -> Path:
    (root / "pyproject.toml").write_text("[project]\\nname = 'media'\\n", encoding="utf-8")
    for name, text in {"media/__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_method_sink_fed_through_an_instance_is_reported_only_where_the_path_can_escape(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    root = _project(tmp_path, {"media/store.py": STORE, "media/views.py": VIEWS})
    result = run_scan(root, config=Config(select=("SEC014",)))
    assert result.errors == []
    assert [(f.path, f.line, f.rule) for f in result.findings] == [("media/store.py", 17, "SEC014")]


def test_method_sink_without_a_caller_passing_request_data_is_not_reported(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    root = _project(tmp_path, {"media/store.py": STORE})
    result = run_scan(root, config=Config(select=("SEC014",)))
    assert [(f.path, f.line) for f in result.findings] == []
