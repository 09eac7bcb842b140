"""SEC042's evidence tiers: an address, phone number or other personal datum is reported at
medium; an e-mail address alone (how most systems identify a user) and anything logged at
debug level (usually off in production) at low severity and low confidence, saying why."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from conftest import ScanFn

from prodready.model import Config

_KEPT = (
    "personal data there is kept for months, shipped to other services and read by people "
    "who should not see it."
)
_EMAIL_ONLY = (
    "an e-mail address alone is also how most systems identify a user, and the call logs no "
    "address, phone, card or id number"
)
_DEBUG = "debug logs are usually off in production"


def test_sec042_tiers_email_alone_and_debug_level_low(run_scan: ScanFn, tmp_path: Path) -> None:
    (tmp_path / "jobs.py").write_text(
        "import logging\n"
        "\n"
        "log = logging.getLogger(__name__)\n"
        "\n"
        "\n"
        "def notify(user, team):\n"
        '    log.warning("no chat handle for %s", user.email)\n'
        '    log.error("bounced: %s at %s", user.email, user.home_address)\n'
        '    log.debug("calling %s", user.phone)\n'
        '    log.debug("digest for %s", user.email)\n'
        '    log.info("digest for team %s", team.mailing_list.email)\n',
        encoding="utf-8",
    )
    result = run_scan(tmp_path, config=replace(Config(), select=("SEC042",)))
    assert [(f.line, f.severity.value, f.confidence.value, f.message) for f in result.findings] == [
        (
            7,
            "low",
            "low",
            f"this log call writes the e-mail address `user.email` to the logs: {_KEPT} "
            f"Reported at low severity: {_EMAIL_ONLY}; still, log a user id instead",
        ),
        (
            8,
            "medium",
            "medium",
            f"this log call writes `user.home_address` to the logs: {_KEPT} Log an "
            "identifier instead",
        ),
        (
            9,
            "low",
            "low",
            f"this debug log call writes `user.phone` to the logs: {_KEPT} Reported at low "
            f"severity: {_DEBUG}; still, log a user id instead",
        ),
        (
            10,
            "low",
            "low",
            f"this debug log call writes `user.email` to the logs: {_KEPT} Reported at low "
            f"severity: {_EMAIL_ONLY} and {_DEBUG}; still, log a user id instead",
        ),
    ]
