"""SEC002 evidence tiers: a real-looking literal, or any literal the code logs in with or checks
a credential against, is reported at high; a literal that reads like a placeholder (a vendor's
token prefix on a body without its format: ``xoxb-unset``) at medium (low confidence); a
literal that calls itself test or seed data, or that a script puts beside a loopback endpoint,
at low (low confidence): development data, as far as the code tells."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from conftest import ScanFn

from prodready.model import Config

_SEED_SCRIPT = '''\
"""Load accounts into a developer's database."""

import os

STAGING_API_KEY = "Pq8Lm3Xz7wQ2Rt5Y"

ACCOUNTS = [
    {
        "name": "Shop",
        "sso": {
            "issuer": "http://localhost:8080/realms/shop",
            "client_id": "shop",
            "client_secret": "shop-sso-secret",
        },
    },
]


def seed(session, Gateway):
    session.add(Gateway(api_key="gw_e2e_seed_checkout_key", label="checkout"))


if __name__ == "__main__":
    seed(os.environ["DATABASE_URL"], dict)
'''

_SERVICE = '''\
"""Settings and checks of the orders service."""

SESSION_SECRET = "change-me-please"
DEFAULT_KEK_PASSPHRASE = "orders-default-kek-for-development"
SSO = {"issuer": "http://localhost:8080/realms/orders", "client_secret": "orders-sso-secret"}
PARTNER_API_KEY = "partner_e2e_key"


def internal(x_api_key):
    return x_api_key == "test-key"


def chat_app(App):
    return App(token="xoxb-unset", token_verification_enabled=False)
'''


def test_sec002_tiers_by_what_the_code_tells(run_scan: ScanFn, tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "seed_accounts.py").write_text(_SEED_SCRIPT, encoding="utf-8")
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "service.py").write_text(_SERVICE, encoding="utf-8")
    result = run_scan(tmp_path, config=replace(Config(), select=("SEC002",)))
    found = [
        (f.path, f.line, f.severity.value, f.confidence.value, f.message) for f in result.findings
    ]
    assert found == [
        ("orders/service.py", 3, "medium", "low", _placeholder("SESSION_SECRET")),
        ("orders/service.py", 4, "high", "medium", _literal("DEFAULT_KEK_PASSPHRASE", "is set to")),
        ("orders/service.py", 5, "high", "medium", _literal("client_secret", "is set to")),
        (
            "orders/service.py",
            6,
            "low",
            "low",
            _development("PARTNER_API_KEY", "calls itself test or sample data (`e2e`)"),
        ),
        ("orders/service.py", 10, "high", "medium", _literal("x_api_key", "is compared with")),
        ("orders/service.py", 14, "medium", "low", _placeholder("token")),
        ("scripts/seed_accounts.py", 5, "high", "high", _literal("STAGING_API_KEY", "is set to")),
        (
            "scripts/seed_accounts.py",
            13,
            "low",
            "low",
            _development(
                "client_secret", "sits beside a loopback endpoint (`localhost`) in a script"
            ),
        ),
        (
            "scripts/seed_accounts.py",
            20,
            "low",
            "low",
            _development("api_key", "calls itself test or sample data (`e2e`)"),
        ),
    ]


def _literal(name: str, verb: str) -> str:
    return (
        f"`{name}` {verb} a literal in the source: anyone with the code (or an image built from "
        "it) has this credential, and it cannot be rotated without a deploy. Read it from the "
        "environment or a secret manager"
    )


def _placeholder(name: str) -> str:
    return (
        f"`{name}` is set to a placeholder in the source: it reads like one, but the code uses "
        "it as written -- a deployment that does not replace it runs with a value anyone can "
        "guess. Read it from the environment or a secret manager"
    )


def _development(name: str, why: str) -> str:
    return (
        f"`{name}` is set to a literal that {why}: development data, it seems, not a "
        "deployment's credential -- but wherever this code runs with it, anyone with the code "
        "has the credential. Read it from the environment or a secret manager"
    )
