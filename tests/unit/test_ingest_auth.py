"""Integration keys: hashed, bound to channels, and the only way to assert a login."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from services.ingest.auth import (
    ANONYMOUS,
    Authenticator,
    ChannelNotAllowedError,
    Integration,
    UnknownKeyError,
    hash_key,
)
from services.ingest.bootstrap import integrations
from services.ingest.config import IngestSettings
from shared.contracts import Channel

PORTAL = "portal-secret-key"
PHONE = "telephony-secret-key"


def authenticator(*, allow_anonymous: bool = False) -> Authenticator:
    return Authenticator(
        {
            "portal": Integration(
                sha256=hash_key(PORTAL), channels=frozenset({Channel.WEB}), may_assert_login=True
            ),
            "telephony": Integration(sha256=hash_key(PHONE), channels=frozenset({Channel.PHONE})),
        },
        allow_anonymous=allow_anonymous,
    )


def test_a_known_key_on_its_channel_names_the_integration():
    caller = authenticator().authenticate(PORTAL, Channel.WEB)
    assert (caller.name, caller.may_assert_login) == ("portal", True)
    assert not authenticator().authenticate(PHONE, Channel.PHONE).may_assert_login


def test_wrong_or_missing_key_is_unknown_and_other_channel_is_not_allowed():
    with pytest.raises(UnknownKeyError):
        authenticator().authenticate("guess", Channel.WEB)
    with pytest.raises(UnknownKeyError):
        authenticator().authenticate(None, Channel.WEB)
    with pytest.raises(ChannelNotAllowedError):
        authenticator().authenticate(PHONE, Channel.WEB)


def test_anonymous_callers_never_assert_logins_and_a_wrong_key_is_still_wrong():
    caller = authenticator(allow_anonymous=True).authenticate(None, Channel.COUNTER)
    assert (caller.name, caller.may_assert_login) == (ANONYMOUS, False)
    with pytest.raises(UnknownKeyError):
        authenticator(allow_anonymous=True).authenticate("guess", Channel.WEB)


def test_keys_come_from_the_environment_as_hashes(monkeypatch):
    monkeypatch.setenv(
        "EENLOKET_API_KEYS",
        orjson.dumps({"gateway": {"sha256": hash_key("k"), "channels": ["email"]}}).decode(),
    )
    settings = IngestSettings()
    assert settings.api_keys["gateway"].channels == frozenset({Channel.EMAIL})
    assert not settings.api_keys["gateway"].may_assert_login


def test_the_legacy_portal_key_is_the_portal_integration():
    settings = IngestSettings(portal_api_key="legacy")
    portal = integrations(settings)["portal"]
    assert portal.sha256 == hash_key("legacy")
    assert portal.channels == frozenset({Channel.WEB}) and portal.may_assert_login


def test_production_refuses_anonymous_callers():
    prod = IngestSettings(
        environment="production",
        oin="00000001234567890000",
        sender_key_secret="s",
        api_keys={"portal": {"sha256": hash_key("k"), "channels": ["web"]}},
    )
    assert not prod.anonymous_allowed
    with pytest.raises(ValueError, match="ALLOW_ANONYMOUS"):
        IngestSettings.model_validate(prod.model_dump() | {"allow_anonymous": True})
    assert IngestSettings(environment="test").anonymous_allowed


def test_production_without_any_integration_key_refuses_to_start():
    # Every request would be a 401: nothing would ever be accepted.
    with pytest.raises(ValueError, match="at least one integration key"):
        IngestSettings(environment="production", oin="00000001234567890000", sender_key_secret="s")


def test_cli_prints_a_key_and_its_entry_and_hashes_from_stdin():
    made = subprocess.run(
        [sys.executable, "-m", "ops", "keys", "new", "app", "--channel", "app"],
        capture_output=True,
        text=True,
        check=True,
    )
    key = made.stdout.split("key (shown once): ")[1].split()[0]
    assert hash_key(key) in made.stdout
    hashed = subprocess.run(
        [sys.executable, "-m", "ops", "keys", "hash"],
        input=key + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    assert hashed.stdout.strip() == hash_key(key)
