"""Modules stay small enough to read whole, and built-in rules live where their code says.

Every module in ``src/`` is meant to stay at or under 600 lines (issue 11). The rule modules already
do; the modules still over the limit are listed with their line counts when the list was made: a
listed module may shrink but never grow, and leaves the list once it fits.
"""

from __future__ import annotations

import re
from pathlib import Path

from prodready.engine.registry import Registry
from prodready.rules import BUILTIN_MODULES

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "prodready"
RULES = PACKAGE / "rules"
MAX_LINES = 600

# Modules allowed over the limit, with their line counts: a listed module may shrink but never
# grow; delete its entry once it is at or under MAX_LINES. Empty since issue 11 split the last ones.
OVERSIZED: dict[str, int] = {}

# A rule's code prefix names the folder (category) it lives in.
FOLDER_OF_PREFIX = {
    "API": "api_contract",
    "CFG": "configuration",
    "CON": "concurrency",
    "DAT": "data_access",
    "DEP": "dependencies",
    "DKR": "dockerfile",
    "ERR": "error_handling",
    "K8S": "kubernetes",
    "OBS": "observability",
    "PRF": "performance",
    "RES": "resilience",
    "SEC": "security",
    "STA": "state",
}


def _line_counts(root: Path) -> dict[str, int]:
    return {
        path.relative_to(SRC).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(root.rglob("*.py"))
    }


def test_no_rule_module_is_over_the_limit() -> None:
    over = {name: lines for name, lines in _line_counts(RULES).items() if lines > MAX_LINES}
    assert over == {}


def test_src_modules_over_the_limit_are_only_the_listed_ones_and_none_grew() -> None:
    counts = _line_counts(PACKAGE)
    over = {name: lines for name, lines in counts.items() if lines > MAX_LINES}
    grown = {
        name: (lines, OVERSIZED[name])
        for name, lines in over.items()
        if name in OVERSIZED and lines > OVERSIZED[name]
    }
    unlisted = {name: lines for name, lines in over.items() if name not in OVERSIZED}
    fits_now = {name: counts.get(name) for name in OVERSIZED if name not in over}
    assert grown == {}, "a listed module grew: (now, listed)"
    assert unlisted == {}, f"a module grew past {MAX_LINES} lines"
    assert fits_now == {}, "these fit now (or are gone): delete them from OVERSIZED"


def test_every_builtin_rule_lives_in_the_folder_of_its_code_prefix(registry: Registry) -> None:
    misplaced = {}
    for rule in registry:
        module = rule.check.__module__
        prefix = re.match(r"[A-Z0-9]+?(?=\d{3}$)", rule.code)
        assert prefix is not None
        expected = f"prodready.rules.{FOLDER_OF_PREFIX[prefix.group()]}."
        if rule.pack == "builtin" and not module.startswith(expected):
            misplaced[rule.code] = module
    assert misplaced == {}


def test_every_rule_module_is_in_the_builtin_pack() -> None:
    """A family module left out of BUILTIN_MODULES would drop its rules without an error."""
    on_disk = {
        "prodready." + path.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", ".")
        for path in RULES.glob("*/*.py")
        if not path.name.startswith("_")
    }
    listed = {name for name in BUILTIN_MODULES if name.startswith("prodready.rules.")}
    assert listed == on_disk
