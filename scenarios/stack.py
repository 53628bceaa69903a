"""What a stack needs to play scenarios: one integration key per channel, the SMTP receiver
and the mail gateway it trusts, the mail relay replies go out through (Mailpit), and the
teams of the routing file. The demo and the end-to-end tests start ingest with
``ingest_env`` and outbound with ``outbound_env``; the runner sends with ``api_key``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from scenarios.model import Scenario

ROOT = Path(__file__).resolve().parents[1]
ROUTING_FILE = ROOT / "services" / "router" / "routing" / "default.yaml"

# One integration per channel, as in a municipality: DEV-ONLY keys (the demo and the tests
# run ingest with EENLOKET_ALLOW_ANONYMOUS=false, so every request shows its key).
INTEGRATIONS: dict[str, tuple[str, bool]] = {
    "web": ("portal", True),
    "app": ("app-backend", True),
    "counter": ("balie", True),
    "email": ("mail-gateway", False),
    "phone": ("telefonie", False),
    "chat": ("chatplatform", False),
    "letter": ("postkamer", False),
}

# The municipality's mail gateway in front of ingest (HTTP and SMTP): its
# Authentication-Results headers, and only those, are evidence of a sender's address.
MAIL_GATEWAY = "mx.scenario.example"


# The shell variables docs/channels.md's examples use for each channel's key; the demo prints
# them as `export` lines so the examples work against it as written.
KEY_VARIABLES = {
    "web": "PORTAL_KEY",
    "app": "APP_KEY",
    "counter": "COUNTER_KEY",
    "email": "GATEWAY_KEY",
    "phone": "PHONE_KEY",
    "chat": "CHAT_KEY",
    "letter": "LETTER_KEY",
}


def api_key(channel: str) -> str:
    return f"dev-scenario-{INTEGRATIONS[channel][0]}-key"


def key_exports() -> list[str]:
    """``export PORTAL_KEY=…`` for every channel's DEV-ONLY key."""
    return [f"export {KEY_VARIABLES[c]}={api_key(c)}" for c in INTEGRATIONS]


def ingest_env(*, smtp_port: int, mail_domains: list[str]) -> dict[str, str]:
    """What ingest needs to play scenarios: the integration keys and the SMTP receiver."""
    keys: dict[str, dict[str, Any]] = {
        name: {
            "sha256": hashlib.sha256(api_key(channel).encode()).hexdigest(),
            "channels": [channel],
            "may_assert_login": may_assert,
        }
        for channel, (name, may_assert) in INTEGRATIONS.items()
    }
    keys[INTEGRATIONS["email"][0]]["trusted_authserv_ids"] = [MAIL_GATEWAY]
    keys[INTEGRATIONS["phone"][0]]["may_assert_caller_id"] = True
    return {
        "EENLOKET_API_KEYS": json.dumps(keys),
        "EENLOKET_ALLOW_ANONYMOUS": "false",
        "EENLOKET_SMTP_PORT": str(smtp_port),
        "EENLOKET_SMTP_DOMAINS": json.dumps(sorted(set(mail_domains))),
        "EENLOKET_SMTP_TRUSTED_AUTHSERV_IDS": json.dumps([MAIL_GATEWAY]),
    }


def outbound_env(relay_smtp: str, mail_domain: str, letters: Path) -> dict[str, str]:
    """Replies by e-mail to the relay ``host:port`` (Mailpit), their Message-ID, Reply-To and
    bounce address on ``mail_domain`` (one ingest receives), letters as PDF files in
    ``letters`` (the print street's folder)."""
    host, port = relay_smtp.rsplit(":", 1)
    return {
        "EENLOKET_RELAY_HOST": host,
        "EENLOKET_RELAY_PORT": port,
        "EENLOKET_RELAY_STARTTLS": "off",
        "EENLOKET_RELAY_FROM_ADDRESS": f"noreply@{mail_domain}",
        "EENLOKET_RELAY_MAIL_DOMAIN": mail_domain,
        "EENLOKET_LETTER_DIR": str(letters),
    }


def reply_domain(scenarios: Sequence[Scenario]) -> str:
    """The one mail domain the outbound service sends from: that of the first scenario with a
    reply, so the resident's answer goes to an address of that municipality."""
    with_reply = [s for s in scenarios if any(step.reply for step in s.steps)]
    return (with_reply or list(scenarios))[0].mail_domain


def routing_teams(path: Path = ROUTING_FILE) -> list[str]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return sorted(doc["teams"])
