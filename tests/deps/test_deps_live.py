"""Against the real package index (PyPI): a real name exists, a random one does not, the
metadata of a real project is read. Marked ``live``: CI runs them; ``-m 'not live'`` skips them.
Every request has a timeout and the whole lookup a budget, so a slow network fails fast."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from prodready.deps.index import IndexClient
from prodready.model import DepsSettings

pytestmark = pytest.mark.live

PYPI = DepsSettings(online=True, index_url="https://pypi.org/simple", timeout_s=15.0)


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    missing = f"prodready-no-such-project-{uuid.uuid4().hex[:16]}"
    # The budget bounds a slow or dead index; how fast PyPI answers is not under test.
    index = IndexClient(PYPI, tmp_path_factory.mktemp("cache"), budget_s=60.0)
    found = index.lookup(["requests", "Flask", missing])
    return {"found": found, "missing": missing}


def test_a_real_project_exists(answers: dict[str, object]) -> None:
    found = answers["found"]
    assert isinstance(found, dict)
    info = found["requests"]
    assert info.exists is True, info.error


def test_a_random_name_does_not_exist(answers: dict[str, object]) -> None:
    found = answers["found"]
    assert isinstance(found, dict)
    info = found[answers["missing"]]
    assert info.exists is False, info.error
    assert info.error is None


def test_metadata_of_a_real_project(answers: dict[str, object]) -> None:
    found = answers["found"]
    assert isinstance(found, dict)
    flask = found["Flask"]
    assert flask.name == "flask" and flask.has_metadata
    assert len(flask.versions) > 50 and "2.0.0" in flask.versions
    assert flask.first_release is not None and flask.first_release.startswith("2010-")
    assert flask.latest_release is not None and flask.latest_release >= "2024-11-13"
    assert flask.summary and flask.has_description
    assert any("github.com/pallets/flask" in url for url in flask.project_urls.values())


def test_answers_are_cached_for_the_next_run(tmp_path: Path) -> None:
    first = IndexClient(PYPI, tmp_path).lookup(["packaging"])["packaging"]
    assert first.exists is True and not first.from_cache
    again = IndexClient(PYPI, tmp_path)
    assert again.lookup(["packaging"])["packaging"].from_cache
    assert again.requests == 0
