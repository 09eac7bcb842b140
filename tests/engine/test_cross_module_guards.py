"""Guards and sanitisers through project functions of other modules: a value a view passes
through (or checks with) an imported project function that sanitises or checks it is clean --
the function's module states it as a project fact (cached with its result), the finding names
the fact, and the project pass drops it when the fact holds."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import ScanFn

from prodready.engine.semantic.guards import (
    alias_fact,
    clean_fact,
    derive,
    guard_fact,
    implication,
)
from prodready.model import Config, ScanResult

SEC015 = Config(select=("SEC015",))
MESSAGE = (
    'redirect() sends the browser to a URL taken from request data `request.GET["next"]`: a '
    "link to this endpoint can bounce your users to any site, e.g. a look-alike login page "
    "(open redirect). Redirect only to relative paths or allowed hosts "
    "(url_has_allowed_host_and_scheme, url_for/reverse)"
)

# The helper names say nothing a name heuristic would trust: only their bodies decide.
CHECKING = """from django.utils.http import url_has_allowed_host_and_scheme


def vet_destination(url, request):
    return url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()})
"""
NOT_CHECKING = """def vet_destination(url, request):
    return bool(url)
"""
VIEWS = """from django.shortcuts import redirect

from shop.checks import vet_destination


def login_done(request):
    target = request.GET["next"]
    if not vet_destination(target, request):
        return redirect("/")
    return redirect(target)
"""


def _project(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'shop'\n", encoding="utf-8")
    for name, text in {"shop/__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _found(result: ScanResult) -> list[tuple[str, int, str, str]]:
    assert result.errors == []
    return [(f.path, f.line, f.rule, f.message) for f in result.findings]


def test_a_redirect_checked_by_a_helper_of_another_module_is_not_reported(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    root = _project(tmp_path, {"shop/checks.py": CHECKING, "shop/views.py": VIEWS})
    result = run_scan(root, config=SEC015)
    assert _found(result) == []
    assert result.stats.moot == 1


def test_the_same_helper_that_checks_nothing_leaves_the_finding(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    root = _project(tmp_path, {"shop/checks.py": NOT_CHECKING, "shop/views.py": VIEWS})
    assert _found(run_scan(root, config=SEC015)) == [("shop/views.py", 10, "SEC015", MESSAGE)]


def test_a_helper_in_a_test_module_does_not_make_the_finding_moot(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    views = VIEWS.replace("shop.checks", "tests.checks")
    root = _project(tmp_path, {"tests/checks.py": CHECKING, "shop/views.py": views})
    assert _found(run_scan(root, config=SEC015)) == [("shop/views.py", 10, "SEC015", MESSAGE)]


SANITISER = """from django.utils.http import url_has_allowed_host_and_scheme


def local_target(url):
    if url_has_allowed_host_and_scheme(url, allowed_hosts=None):
        return url
    return "/"
"""
PASSING_THROUGH = """from django.shortcuts import redirect

from shop import local_target


def login_done(request):
    return redirect(local_target(request.GET["next"]))
"""


def test_a_sanitiser_re_exported_through_a_package_init(tmp_path: Path, run_scan: ScanFn) -> None:
    files = {
        "shop/__init__.py": "from .urls import local_target\n",
        "shop/urls.py": SANITISER,
        "shop/views.py": PASSING_THROUGH,
    }
    assert _found(run_scan(_project(tmp_path, files), config=SEC015)) == []
    # The same function returning what it was given is no sanitiser.
    files["shop/urls.py"] = "def local_target(url):\n    return url.strip()\n"
    assert _found(run_scan(_project(tmp_path, files), config=SEC015)) == [
        ("shop/views.py", 7, "SEC015", MESSAGE)
    ]


CHAINED_VIEWS = """from django.shortcuts import redirect

from shop import routing


def login_done(request):
    target = request.GET["next"]
    if not routing.vet(target):
        return redirect("/")
    return redirect(target)
"""
FIRST_LEVEL = """from shop.checks import vet_destination


def vet(url):
    return vet_destination(url, None)
"""


def test_a_check_two_helpers_deep_across_modules(tmp_path: Path, run_scan: ScanFn) -> None:
    files = {"shop/routing.py": FIRST_LEVEL, "shop/views.py": CHAINED_VIEWS}
    checked = _project(tmp_path / "checked", {**files, "shop/checks.py": CHECKING})
    assert _found(run_scan(checked, config=SEC015)) == []
    unchecked = _project(tmp_path / "unchecked", {**files, "shop/checks.py": NOT_CHECKING})
    assert _found(run_scan(unchecked, config=SEC015)) == [("shop/views.py", 10, "SEC015", MESSAGE)]


def test_a_warm_rescan_after_editing_only_the_helper_changes_the_verdict(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    root = _project(tmp_path / "app", {"shop/checks.py": CHECKING, "shop/views.py": VIEWS})
    hour_ago = time.time_ns() - 3_600 * 1_000_000_000
    for path in [*root.rglob("*.py"), root / "shop", root]:
        os.utime(path, ns=(hour_ago, hour_ago))  # old enough for the stat signature to be trusted
    cache = tmp_path / "cache"

    def scan() -> ScanResult:
        return run_scan(root, config=SEC015, use_cache=True, cache_dir=cache)

    cold = scan()
    assert (_found(cold), cold.stats.files_analyzed) == ([], 4)  # with pyproject.toml
    (root / "shop/checks.py").write_text(NOT_CHECKING, encoding="utf-8")
    warm = scan()
    assert _found(warm) == [("shop/views.py", 10, "SEC015", MESSAGE)]
    assert (warm.stats.files_analyzed, warm.stats.cache_hits) == (1, 3)
    (root / "shop/checks.py").write_text(CHECKING, encoding="utf-8")
    again = scan()
    assert (_found(again), again.stats.files_analyzed) == ([], 1)


def test_derive_closes_facts_under_implications_aliases_and_value_cleanliness() -> None:
    checked = guard_fact("safe-redirect", "shop.checks.vet_destination", 0)
    vet = guard_fact("safe-redirect", "shop.routing.vet", 0)
    held = derive(
        {
            checked,
            implication(vet, checked),
            alias_fact("shop.vet", "shop.routing.vet"),
            clean_fact("value", "shop.util.page", 0),
            implication(clean_fact("html", "shop.util.label", 1), clean_fact("html", "x.y", 0)),
            implication(clean_fact("*", "shop.words.word", 0), clean_fact("*", "shop.q.shell", 0)),
            clean_fact("shell", "shop.q.shell", 0),
        }
    )
    assert clean_fact("shell", "shop.words.word", 0) in held
    assert clean_fact("html", "shop.words.word", 0) not in held
    assert vet in held
    assert guard_fact("safe-redirect", "shop.vet", 0) in held
    assert clean_fact("shell", "shop.util.page", 0) in held
    assert clean_fact("html", "shop.util.label", 1) not in held
    assert guard_fact("url-host", "shop.routing.vet", 0) not in held


QUOTING = """import shlex


def shell_word(value):
    return shlex.quote(value)


def page_number(value):
    return int(value)
"""
COMMANDS = """import subprocess

from flask import Flask, request

from shop.quoting import page_number, shell_word
from shop.words import word

app = Flask(__name__)


@app.post("/convert")
def convert():
    name = request.form["name"]
    subprocess.run(f"convert {shell_word(name)} out.png", shell=True)
    subprocess.run(f"convert {name} out.png", shell=True)
    subprocess.run(f"head -n {page_number(request.form['n'])} log.txt", shell=True)
    subprocess.run(f"convert {word(name)} out.png", shell=True)
    return "ok"
"""
WORDS = """from shop import quoting


def word(value):
    return quoting.shell_word(value.strip())


def echoed(value):
    return value.strip()
"""


def test_values_passed_through_an_imported_escaper_or_conversion_are_clean(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    files = {"shop/quoting.py": QUOTING, "shop/words.py": WORDS, "shop/views.py": COMMANDS}
    result = run_scan(_project(tmp_path, files), config=Config(select=("SEC008",)))
    assert [(path, line) for path, line, _, _ in _found(result)] == [("shop/views.py", 15)]
    assert result.stats.moot == 3
    # A helper that hands the value back unquoted cleans nothing.
    files["shop/views.py"] = COMMANDS.replace("{word(name)}", "{echoed(name)}").replace(
        "import word", "import echoed"
    )
    result = run_scan(_project(tmp_path, files), config=Config(select=("SEC008",)))
    assert [(path, line) for path, line, _, _ in _found(result)] == [
        ("shop/views.py", 15),
        ("shop/views.py", 17),
    ]


HELPER_SINK = """import subprocess

from flask import Flask, request

from shop.quoting import shell_word

app = Flask(__name__)


def convert(name):
    subprocess.run(f"convert {name} out.png", shell=True)


@app.post("/quoted")
def quoted():
    convert(shell_word(request.form["name"]))
    return "ok"
"""
RAW_CALLER = """

@app.post("/raw")
def raw():
    convert(request.form["name"])
    return "ok"
"""


def test_a_sink_in_a_helper_fed_through_an_imported_escaper_is_moot_unless_another_caller_is_not(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    select = Config(select=("SEC008",))
    files = {"shop/quoting.py": QUOTING, "shop/views.py": HELPER_SINK}
    result = run_scan(_project(tmp_path / "quoted", files), config=select)
    assert (_found(result), result.stats.moot) == ([], 1)
    files["shop/views.py"] = HELPER_SINK + RAW_CALLER
    result = run_scan(_project(tmp_path / "both", files), config=select)
    assert [(path, line) for path, line, _, _ in _found(result)] == [("shop/views.py", 11)]
    assert result.stats.moot == 0


def test_a_project_in_a_subdirectory_imports_its_modules_without_the_directory(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    # Scanned from the repository root: backend/app/checks.py is backend.app.checks to the
    # scan, and app.checks to the service that imports it.
    (tmp_path / "backend").mkdir()
    files = {
        "app/__init__.py": "",
        "app/checks.py": CHECKING,
        "app/views.py": VIEWS.replace("shop.checks", "app.checks"),
    }
    _project(tmp_path / "backend", files)
    assert _found(run_scan(tmp_path, config=SEC015)) == []
    (tmp_path / "backend/app/checks.py").write_text(NOT_CHECKING, encoding="utf-8")
    assert _found(run_scan(tmp_path, config=SEC015)) == [
        ("backend/app/views.py", 10, "SEC015", MESSAGE)
    ]


CHECKED_THEN_RETURNED = """from shop.checks import vet_destination


def local_target(url, request):
    if not vet_destination(url, request):
        return "/"
    return url
"""


def test_a_value_returned_after_a_check_by_a_helper_of_a_third_module(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    views = PASSING_THROUGH.replace(
        "from shop import local_target", "from shop.urls import local_target"
    )
    views = views.replace(
        'local_target(request.GET["next"])', 'local_target(request.GET["next"], request)'
    )
    files = {"shop/urls.py": CHECKED_THEN_RETURNED, "shop/views.py": views}
    checked = _project(tmp_path / "checked", {**files, "shop/checks.py": CHECKING})
    assert _found(run_scan(checked, config=SEC015)) == []
    unchecked = _project(tmp_path / "unchecked", {**files, "shop/checks.py": NOT_CHECKING})
    assert _found(run_scan(unchecked, config=SEC015)) == [("shop/views.py", 7, "SEC015", MESSAGE)]
