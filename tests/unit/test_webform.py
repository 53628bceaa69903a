import uuid

import pytest
from pydantic import ValidationError

from services.ingest.channels.webform import WebFormSubmission, to_message
from shared.contracts import IdentifierKind, Trust
from shared.identifiers import sender_key


def _form(**kw):
    return WebFormSubmission.model_validate({"subject": "Vraag", "text": "Hoe?"} | kw)


def test_portal_login_makes_the_bsn_authenticated():
    form = _form(authentication="digid", bsn="123456782", email="A@B.nl", kvk="12345678")
    message = to_message(form, message_id=uuid.uuid4(), authenticated=True)
    trust = {s.kind: s.trust for s in message.sender}
    assert trust[IdentifierKind.BSN] == Trust.AUTHENTICATED
    # Only what the login produced is authenticated; a KvK number typed next to a
    # DigiD login is merely stated.
    assert trust[IdentifierKind.KVK] == Trust.CLAIMED
    assert trust[IdentifierKind.EMAIL] == Trust.CLAIMED
    email = next(s for s in message.sender if s.kind == IdentifierKind.EMAIL)
    assert email.value == "a@b.nl"


def test_eherkenning_makes_the_kvk_number_authenticated():
    form = _form(authentication="eherkenning", kvk="12345678")
    message = to_message(form, message_id=uuid.uuid4(), authenticated=True)
    assert [(s.kind, s.trust) for s in message.sender] == [
        (IdentifierKind.KVK, Trust.AUTHENTICATED)
    ]


def test_without_portal_credentials_everything_is_claimed():
    form = _form(bsn="123456782", authentication="digid")
    message = to_message(form, message_id=uuid.uuid4(), authenticated=False)
    assert {s.trust for s in message.sender} == {Trust.CLAIMED}


def test_phone_is_normalised_to_e164_and_text_is_stripped():
    form = _form(phone="06 12345678", subject="  Vraag  ", text="  Hoe?\n")
    message = to_message(form, message_id=uuid.uuid4(), authenticated=False)
    assert [s.value for s in message.sender] == ["+31612345678"]
    assert (message.subject, message.text) == ("Vraag", "Hoe?")


@pytest.mark.parametrize(
    "fields",
    [
        {"authentication": "digid"},  # a login without its BSN
        {"authentication": "eherkenning"},  # a login without its KvK number
        {"bsn": "12345"},
        {"bsn": "123456789"},  # nine digits, but fails the 11-proef
        {"case_number": "ZAAK-1"},
        {"unexpected": "field"},
        {"subject": ""},
        {"subject": "   "},
        {"subject": "Vraag\r\nBcc: x@example.org"},  # header injection
        {"text": "nul\x00byte"},
        {"text": "x" * 20_001},
        {"phone": "06 1234"},  # not a valid number
        {"email": "not-an-address"},
        {"submission_id": "has spaces"},
        {"submitted_at": "2026-04-06T10:00:00"},  # no time zone
    ],
)
def test_invalid_forms_are_refused(fields):
    with pytest.raises(ValidationError):
        _form(**fields)


def test_sender_key_is_opaque_and_stable():
    form = _form(email="jan@example.nl")
    a = to_message(form, message_id=uuid.uuid4(), authenticated=False)
    b = to_message(form, message_id=uuid.uuid4(), authenticated=False)
    key = sender_key(a, b"secret")
    assert key == sender_key(b, b"secret")
    assert b"jan" not in key
    assert key != sender_key(a, b"other-secret")
