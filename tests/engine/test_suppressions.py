"""Suppressions as the tools people know: file-level ``ignore-file``, unknown codes (CFG901)
and unused suppressions (CFG902), next to the reason check (CFG900). Issue 10."""

from __future__ import annotations

from pathlib import Path

from conftest import ScanFn

from prodready.model import Config

RULES = ("RES001", "DEP001", "CFG900", "CFG901", "CFG902")


def _scan(tmp_path: Path, run_scan: ScanFn, files: dict[str, str]) -> list[tuple[str, str, int]]:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = run_scan(tmp_path, config=Config(select=RULES))
    assert result.errors == []
    return [(f.rule, f.path, f.line) for f in result.findings]


def _messages(tmp_path: Path, run_scan: ScanFn, text: str) -> list[str]:
    (tmp_path / "app.py").write_text(text, encoding="utf-8")
    result = run_scan(tmp_path, config=Config(select=RULES))
    return [f"{f.rule}:{f.line} {f.message}" for f in result.findings]


def test_ignore_file_silences_a_rule_in_the_whole_file(tmp_path: Path, run_scan: ScanFn) -> None:
    findings = _scan(
        tmp_path,
        run_scan,
        {
            "batch.py": (
                "import requests\n"
                "# prodready: ignore-file[RES001] the batch runner kills the job after 10 min\n"
                "def one(url):\n    return requests.get(url)\n"
                "def two(url):\n    return requests.get(url)\n"
            ),
            "service.py": "import requests\n\ndef one(url):\n    return requests.get(url)\n",
        },
    )
    assert findings == [("RES001", "service.py", 4)]


def test_ignore_file_needs_codes_and_a_reason(tmp_path: Path, run_scan: ScanFn) -> None:
    messages = _messages(
        tmp_path,
        run_scan,
        "import requests\n"
        "# prodready: ignore-file the batch runner kills the job\n"
        "# prodready: ignore-file[RES001]\n"
        "def one(url):\n    return requests.get(url)\n",
    )
    assert messages == [
        "CFG900:2 file-level suppression names no rule and silences nothing: name the rule codes",
        "CFG900:3 suppression without a reason: say why this finding is acceptable here",
    ]


def test_ignore_file_covers_project_rule_findings(tmp_path: Path, run_scan: ScanFn) -> None:
    """Project rules (here DEP001, unpinned requirements) honour file-level suppressions too."""
    requirements = "requests\nflask\n"
    files = {"requirements.txt": requirements, "app.py": "import requests\nimport flask\n"}
    assert [f[0] for f in _scan(tmp_path, run_scan, files)] == ["DEP001", "DEP001"]
    files["requirements.txt"] = "# prodready: ignore-file[DEP001] pinned by the lock file\n"
    files["requirements.txt"] += requirements
    assert _scan(tmp_path, run_scan, files) == []


def test_unknown_codes_get_a_did_you_mean(tmp_path: Path, run_scan: ScanFn) -> None:
    messages = _messages(
        tmp_path,
        run_scan,
        "import requests\n"
        "def one(url):\n"
        "    return requests.get(url)  # prodready: ignore[RES01, ACME001] adapter timeout\n"
        "def two(url):\n"
        "    return requests.get(url)  # prodready: ignore[http-call-without-timout] adapter\n"
        "def three(url):\n"
        "    return requests.get(url)  # prodready: ignore[no-such-rule] adapter\n",
    )
    assert messages == [
        "CFG901:3 suppression names an unknown rule 'RES01': did you mean RES001?",
        "RES001:3 requests.get() has no timeout: requests waits forever by default, so a hung "
        "upstream blocks this worker indefinitely",
        "CFG901:5 suppression names an unknown rule 'http-call-without-timout': did you mean "
        "http-call-without-timeout?",
        "RES001:5 requests.get() has no timeout: requests waits forever by default, so a hung "
        "upstream blocks this worker indefinitely",
        "CFG901:7 suppression names an unknown rule 'no-such-rule': `prodready rules` lists "
        "the rules",
        "RES001:7 requests.get() has no timeout: requests waits forever by default, so a hung "
        "upstream blocks this worker indefinitely",
    ]


def test_unused_suppressions_are_reported(tmp_path: Path, run_scan: ScanFn) -> None:
    messages = _messages(
        tmp_path,
        run_scan,
        "# prodready: ignore-file[RES001] nothing here calls out any more\n"
        "import json\n"
        "def one(data):\n"
        "    return json.dumps(data)  # prodready: ignore[RES001, SEC001] legacy\n",
    )
    assert messages == [
        "CFG902:1 unused suppression: RES001 reports nothing in this file",
        "CFG902:4 unused suppression: RES001 reports nothing here",
    ]


def test_ignore_followed_by_a_dash_is_not_a_blanket_suppression(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    messages = _messages(
        tmp_path,
        run_scan,
        "import requests\ndef one(url):\n    return requests.get(url)  # prodready: ignore-me\n",
    )
    assert [message.split(" ")[0] for message in messages] == ["RES001:3"]
