"""Evidence per identifier (web, app, counter, phone): only what the integration proved, and only
from a key allowed to prove it; everything typed has no evidence and stays claimed."""

from __future__ import annotations

import subprocess
import sys
import uuid

import orjson
import pytest

from services.ingest.auth import ANONYMOUS, Authenticator, Caller, Integration, hash_key
from services.ingest.channels import app, counter, phone, webform
from services.ingest.config import IngestSettings
from services.ingest.submissions import phone_submission
from shared.contracts import Channel, Evidence, IdentifierKind, InboundMessage, Trust
from shared.http import ProblemError

NOW = "2026-04-06T09:30:00+02:00"
BSN, KVK = "123456782", "12345678"


def identifiers(message: InboundMessage) -> dict[IdentifierKind, tuple[Trust, Evidence | None]]:
    return {s.kind: (s.trust, s.evidence) for s in message.sender}


TYPED = {  # typed next to the login: never evidence
    IdentifierKind.EMAIL: (Trust.CLAIMED, None),
    IdentifierKind.PHONE: (Trust.CLAIMED, None),
}


# --- web form and app: a login asserted by a key that may assert logins -------------------


def web(authenticated: bool, **fields: str) -> InboundMessage:
    form = webform.WebFormSubmission.model_validate(
        {"subject": "Vraag", "text": "Hoe?", "email": "a@example.nl", "phone": "0612345678"}
        | fields
    )
    return webform.to_message(form, message_id=uuid.uuid4(), authenticated=authenticated)


def app_msg(authenticated: bool, **party: str) -> InboundMessage:
    msg = app.AppMessage.model_validate(
        {
            "message_id": f"m-{uuid.uuid4().hex}",
            "conversation_id": "c-1",
            "text": "Hallo",
            "party": {"email": "a@example.nl", "phone": "0612345678"} | party,
        }
    )
    return app.to_message(msg, message_id=uuid.uuid4(), authenticated=authenticated, attachments=[])


@pytest.mark.parametrize("build", [web, app_msg], ids=["web", "app"])
@pytest.mark.parametrize(
    ("authenticated", "fields", "expected"),
    [
        (
            True,
            {"authentication": "digid", "bsn": BSN, "kvk": KVK},
            {
                IdentifierKind.BSN: (Trust.AUTHENTICATED, Evidence.DIGID),
                IdentifierKind.KVK: (Trust.CLAIMED, None),  # typed next to a DigiD login
            },
        ),
        (
            True,
            {"authentication": "eherkenning", "kvk": KVK, "bsn": BSN},
            {
                IdentifierKind.KVK: (Trust.AUTHENTICATED, Evidence.EHERKENNING),
                IdentifierKind.BSN: (Trust.CLAIMED, None),
            },
        ),
        (  # the login, but not vouched for (the route answers 403 before this)
            False,
            {"authentication": "digid", "bsn": BSN},
            {IdentifierKind.BSN: (Trust.CLAIMED, None)},
        ),
        (  # a BSN typed without a login
            True,
            {"bsn": BSN},
            {IdentifierKind.BSN: (Trust.CLAIMED, None)},
        ),
    ],
    ids=["digid", "eherkenning", "not-vouched", "bsn-without-login"],
)
def test_only_the_logins_own_identifier_has_evidence(build, authenticated, fields, expected):
    assert identifiers(build(authenticated, **fields)) == expected | TYPED


# --- counter: an identity document checked at the desk ------------------------------------


@pytest.mark.parametrize(
    ("authenticated", "identity", "expected"),
    [
        (
            True,
            {"checked": "id-document", "bsn": BSN, "kvk": KVK},
            {
                IdentifierKind.BSN: (Trust.AUTHENTICATED, Evidence.ID_DOCUMENT),
                IdentifierKind.KVK: (Trust.CLAIMED, None),
            },
        ),
        (
            False,
            {"checked": "id-document", "bsn": BSN},
            {IdentifierKind.BSN: (Trust.CLAIMED, None)},
        ),
        (True, {"bsn": BSN}, {IdentifierKind.BSN: (Trust.CLAIMED, None)}),
    ],
    ids=["id-document", "not-vouched", "stated"],
)
def test_counter_id_document_is_evidence_for_the_bsn(authenticated, identity, expected):
    visit = counter.CounterVisit.model_validate(
        {
            "visit_id": f"v-{uuid.uuid4().hex}",
            "visited_at": NOW,
            "topic": "Paspoort",
            "identity": identity,
            "email": "a@example.nl",
            "phone": "0612345678",
        }
    )
    message = counter.to_message(
        visit, message_id=uuid.uuid4(), authenticated=authenticated, attachments=[]
    )
    assert identifiers(message) == expected | TYPED


# --- phone: network-verified caller ID, only from a key that may assert it -----------------


def call(**fields: object) -> phone.CallRecord:
    body = {
        "call_id": f"call-{uuid.uuid4().hex}",
        "caller_number": "020 123 4567",
        "called_line": "14 020",
        "started_at": NOW,
        "ended_at": NOW,
    }
    return phone.CallRecord.model_validate(body | fields)


def test_caller_id_verified_defaults_to_false():
    assert call().caller_id_verified is False


@pytest.mark.parametrize(
    ("flag", "vouched", "expected"),
    [
        (True, True, (Trust.CLAIMED, Evidence.NETWORK_CALLER_ID)),  # the router decides the rung
        (False, True, (Trust.CLAIMED, None)),
        (True, False, (Trust.CLAIMED, None)),
    ],
    ids=["verified", "not-marked", "not-vouched"],
)
def test_network_verified_caller_id_is_evidence_but_still_claimed(flag, vouched, expected):
    message = phone.to_message(
        call(caller_id_verified=flag), message_id=uuid.uuid4(), caller_id_vouched=vouched
    )
    assert identifiers(message) == {IdentifierKind.PHONE: expected}
    assert message.sender[0].value == "+31201234567"


def test_an_anonymous_call_marked_verified_has_no_identifier():
    message = phone.to_message(
        call(caller_number=None, caller_id_verified=True),
        message_id=uuid.uuid4(),
        caller_id_vouched=True,
    )
    assert message.sender == []


def _phone_caller(may_assert_caller_id: bool) -> Caller:
    key = f"k-{uuid.uuid4().hex}"
    integration = Integration(
        sha256=hash_key(key),
        channels=frozenset({Channel.PHONE}),
        may_assert_caller_id=may_assert_caller_id,
    )
    authenticator = Authenticator({"telephony": integration}, allow_anonymous=True)
    return authenticator.authenticate(key, Channel.PHONE)


def test_only_a_key_that_may_assert_caller_id_may_mark_a_number_verified():
    record = call(caller_id_verified=True)
    phone_submission(record, _phone_caller(True), None)  # accepted (evidence: integration test)
    with pytest.raises(ProblemError) as refused:
        phone_submission(record, _phone_caller(False), None)
    assert refused.value.problem.status == 403
    # A key that may assert logins may not, by that, vouch for caller ID.
    login_only = Caller(name="portal", may_assert_login=True)
    with pytest.raises(ProblemError):
        phone_submission(record, login_only, None)
    anonymous = Authenticator({}, allow_anonymous=True).authenticate(None, Channel.PHONE)
    assert anonymous.name == ANONYMOUS and not anonymous.may_assert_caller_id
    # Without the mark any key will do.
    phone_submission(call(), _phone_caller(False), None)


# --- configuration: who may vouch for what ----------------------------------------------


def test_trusted_authserv_ids_per_key_and_for_the_smtp_receiver(monkeypatch):
    monkeypatch.setenv(
        "EENLOKET_API_KEYS",
        orjson.dumps(
            {
                "gateway": {
                    "sha256": hash_key("k"),
                    "channels": ["email"],
                    "trusted_authserv_ids": [" MX.Gemeente.Example "],
                },
                "telephony": {
                    "sha256": hash_key("t"),
                    "channels": ["phone"],
                    "may_assert_caller_id": True,
                },
            }
        ).decode(),
    )
    monkeypatch.setenv("EENLOKET_SMTP_TRUSTED_AUTHSERV_IDS", '["mx1.gemeente.example"]')
    settings = IngestSettings()
    gateway = settings.api_keys["gateway"]
    assert gateway.trusted_authserv_ids == frozenset({"mx.gemeente.example"})
    assert not gateway.may_assert_caller_id and not gateway.may_assert_login
    assert settings.api_keys["telephony"].may_assert_caller_id
    assert settings.smtp_trusted_authserv_ids == ["mx1.gemeente.example"]
    caller = Authenticator(settings.api_keys, allow_anonymous=False).authenticate(
        "k", Channel.EMAIL
    )
    assert caller.trusted_authserv_ids == frozenset({"mx.gemeente.example"})
    monkeypatch.delenv("EENLOKET_SMTP_TRUSTED_AUTHSERV_IDS")
    assert IngestSettings().smtp_trusted_authserv_ids == []  # by default nothing is trusted


@pytest.mark.parametrize("bad", ["", "mx gemeente", "mx;dmarc=pass", "(mx)", "x" * 201])
def test_an_authserv_id_is_one_token(bad):
    with pytest.raises(ValueError, match="authserv-id"):
        Integration(
            sha256=hash_key("k"), channels=frozenset({Channel.EMAIL}), trusted_authserv_ids={bad}
        )
    with pytest.raises(ValueError, match="authserv-id"):
        IngestSettings(smtp_trusted_authserv_ids=[bad])


def test_cli_writes_the_new_permissions():
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "ops",
            "keys",
            "new",
            "gateway",
            "--channel",
            "email",
            "--trusted-authserv-id",
            "MX.Gemeente.Example",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    entry = orjson.loads(made.stdout.split("EENLOKET_API_KEYS entry: ")[1])
    assert entry["gateway"]["trusted_authserv_ids"] == ["mx.gemeente.example"]
    assert Integration.model_validate(entry["gateway"]).channels == {Channel.EMAIL}
    phone_key = subprocess.run(
        [
            sys.executable,
            "-m",
            "ops",
            "keys",
            "new",
            "telephony",
            "--channel",
            "phone",
            "--may-assert-caller-id",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    entry = orjson.loads(phone_key.stdout.split("EENLOKET_API_KEYS entry: ")[1])
    assert Integration.model_validate(entry["telephony"]).may_assert_caller_id
