import uuid

import pytest
from pydantic import ValidationError

from services.ingest.channels.webform import WebFormSubmission, to_message
from services.ingest.service import sender_key
from shared.contracts import IdentifierKind, Trust


def _form(**kw):
    return WebFormSubmission.model_validate({"subject": "Vraag", "text": "Hoe?"} | kw)


def test_portal_login_makes_the_bsn_authenticated():
    form = _form(authentication="digid", bsn="123456782", email="A@B.nl")
    message = to_message(form, message_id=uuid.uuid4(), authenticated=True)
    bsn = next(s for s in message.sender if s.kind == IdentifierKind.BSN)
    email = next(s for s in message.sender if s.kind == IdentifierKind.EMAIL)
    assert bsn.trust == Trust.AUTHENTICATED
    assert email.trust == Trust.CLAIMED
    assert email.value == "a@b.nl"


def test_without_portal_credentials_everything_is_claimed():
    form = _form(bsn="123456782")
    message = to_message(form, message_id=uuid.uuid4(), authenticated=False)
    assert {s.trust for s in message.sender} == {Trust.CLAIMED}


@pytest.mark.parametrize(
    "fields",
    [
        {"authentication": "digid"},  # a login without its BSN
        {"bsn": "12345"},
        {"case_number": "ZAAK-1"},
        {"unexpected": "field"},
        {"subject": ""},
        {"text": "x" * 20_001},
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
