"""App, chat, phone, counter and letter: request models and their canonical messages."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from services.ingest.channels import app, chat, counter, letter, phone
from services.ingest.channels.html_text import html_to_text
from shared.contracts import Channel, IdentifierKind, Trust

NOW = "2026-04-06T09:30:00+02:00"
PDF = base64.b64encode(b"%PDF-1.4 scan").decode()


def senders(message):
    return [(s.kind, s.value, s.trust) for s in message.sender]


# --- app ---------------------------------------------------------------------------------


def app_message(**kw):
    body = {
        "message_id": "app-msg-1",
        "conversation_id": "conv-42",
        "sent_at": NOW,
        "party": {"authentication": "digid", "bsn": "123456782", "name": "A. de Vries"},
        "text": "Mijn paspoort is gestolen.",
    }
    return app.AppMessage.model_validate(body | kw)


def test_app_login_is_authenticated_only_when_vouched_for():
    msg = app_message()
    vouched = app.to_message(msg, message_id=uuid.uuid4(), authenticated=True, attachments=[])
    assert senders(vouched) == [(IdentifierKind.BSN, "123456782", Trust.AUTHENTICATED)]
    assert vouched.thread_refs == ["app:conv-42"]
    assert vouched.channel == Channel.APP
    assert vouched.channel_message_id == "app-msg-1"
    assert vouched.display_name == "A. de Vries"
    not_vouched = app.to_message(msg, message_id=uuid.uuid4(), authenticated=False, attachments=[])
    assert senders(not_vouched) == [(IdentifierKind.BSN, "123456782", Trust.CLAIMED)]


def test_app_message_needs_text_or_attachments():
    with pytest.raises(ValidationError):
        app_message(text="  ")
    ok = app_message(text="", attachments=[{"media_type": "image/jpeg", "content_base64": PDF}])
    assert ok.attachments[0].blob().data == b"%PDF-1.4 scan"


# --- chat --------------------------------------------------------------------------------

chat_event = TypeAdapter(chat.ChatEvent)


def test_chat_events_share_the_session_thread():
    base = {"session_id": "S-9", "occurred_at": NOW, "visitor": {"handle": "bezoeker-77"}}
    started = chat_event.validate_python(
        base | {"type": "session.started", "event_id": "e1", "topic": "Parkeren"}
    )
    said = chat_event.validate_python(
        base | {"type": "message", "event_id": "e2", "text": "Hoe vraag ik een vergunning aan?"}
    )
    ended = chat_event.validate_python(
        base | {"type": "session.ended", "event_id": "e3", "transcript": "..."}
    )
    messages = [
        chat.to_message(e, message_id=uuid.uuid4(), attachments=[]) for e in (started, said, ended)
    ]
    assert {tuple(m.thread_refs) for m in messages} == {("chat:S-9",)}
    assert [m.channel_message_id for m in messages] == ["e1", "e2", "e3"]
    assert messages[0].subject == "Parkeren"
    assert messages[1].text == "Hoe vraag ik een vergunning aan?"
    assert senders(messages[1]) == [(IdentifierKind.CHAT, "bezoeker-77", Trust.CLAIMED)]


@pytest.mark.parametrize(
    "event",
    [
        {"type": "message", "author": "agent", "text": "Goedemiddag!"},
        {"type": "message", "text": ""},
        {"type": "typing"},
        {"type": "message", "text": "hoi", "session_id": "has space"},
    ],
)
def test_chat_refuses_what_is_not_inbound_or_malformed(event):
    body = {"event_id": "e", "session_id": "S", "occurred_at": NOW} | event
    with pytest.raises(ValidationError):
        chat_event.validate_python(body)


# --- phone -------------------------------------------------------------------------------


def call(**kw):
    body = {
        "call_id": "call-1001",
        "caller_number": "06-12345678",
        "called_line": "14 020",
        "started_at": "2026-04-06T09:00:00+02:00",
        "ended_at": "2026-04-06T09:07:00+02:00",
        "agent_notes": "Vraagt naar status bezwaar WOZ.",
    }
    return phone.CallRecord.model_validate(body | kw)


def test_phone_number_becomes_e164_and_claimed():
    message = phone.to_message(call(transcript="Beller: goedemorgen"), message_id=uuid.uuid4())
    assert senders(message) == [(IdentifierKind.PHONE, "+31612345678", Trust.CLAIMED)]
    assert message.thread_refs == ["phone:call-1001"]
    assert message.received_at == datetime(2026, 4, 6, 7, 0, tzinfo=UTC)
    assert message.text.startswith("Vraagt naar status bezwaar WOZ.")
    assert "Beller: goedemorgen" in message.text


def test_anonymous_caller_and_callback_thread():
    message = phone.to_message(
        call(caller_number=None, call_id="call-1002", callback_of="call-1001"),
        message_id=uuid.uuid4(),
    )
    assert message.sender == []
    assert message.thread_refs == ["phone:call-1002", "phone:call-1001"]


def test_international_number():
    message = phone.to_message(call(caller_number="+44 20 7946 0958"), message_id=uuid.uuid4())
    assert message.sender[0].value == "+442079460958"


@pytest.mark.parametrize(
    "fields",
    [
        {"caller_number": "112"},
        {"caller_number": "anonymous"},
        {"ended_at": "2026-04-06T08:00:00+02:00"},
        {"started_at": "2026-04-06T09:00:00"},
        {"called_line": ""},
    ],
)
def test_phone_refuses_bad_records(fields):
    with pytest.raises(ValidationError):
        call(**fields)


# --- counter -----------------------------------------------------------------------------


def visit(**kw):
    body = {
        "visit_id": "balie-2026-0001",
        "visited_at": NOW,
        "identity": {"checked": "id-document", "bsn": "123456782"},
        "name": "K. Bakker",
        "topic": "Verhuizing doorgeven",
        "notes": "Nieuw adres per 1 mei.",
        "product": "verhuizing",
    }
    return counter.CounterVisit.model_validate(body | kw)


def test_counter_id_check_is_authenticated_when_vouched_for():
    v = visit()
    assert v.asserts_login
    message = counter.to_message(v, message_id=uuid.uuid4(), authenticated=True, attachments=[])
    assert senders(message) == [(IdentifierKind.BSN, "123456782", Trust.AUTHENTICATED)]
    assert (message.subject, message.product_hint) == ("Verhuizing doorgeven", "verhuizing")
    unchecked = visit(identity={"checked": "none", "bsn": "123456782"})
    assert not unchecked.asserts_login
    message = counter.to_message(
        unchecked, message_id=uuid.uuid4(), authenticated=False, attachments=[]
    )
    assert senders(message) == [(IdentifierKind.BSN, "123456782", Trust.CLAIMED)]


@pytest.mark.parametrize(
    "identity",
    [{"checked": "id-document"}, {"checked": "id-document", "bsn": "111111111"}],
)
def test_counter_id_check_needs_a_valid_bsn(identity):
    with pytest.raises(ValidationError):
        visit(identity=identity)


# --- letter ------------------------------------------------------------------------------


def scanned(**kw):
    body = {
        "letter_id": "post-2026-000123",
        "received_at": NOW,
        "sender": {"name": "Fam. Yilmaz", "address_lines": ["Kerkstraat 1", "1234 AB Dorp"]},
        "ocr_text": "Geachte heer/mevrouw, graag een nieuwe afvalpas.",
        "scan": {"filename": "scan.pdf", "media_type": "application/pdf", "content_base64": PDF},
    }
    return letter.ScannedLetter.model_validate(body | kw)


def test_letter_sender_as_written_is_a_claimed_postal_address():
    message = letter.to_message(scanned(), message_id=uuid.uuid4(), attachments=[])
    assert senders(message) == [
        (IdentifierKind.POSTAL_ADDRESS, "Kerkstraat 1, 1234 AB Dorp", Trust.CLAIMED)
    ]
    assert message.display_name == "Fam. Yilmaz"
    assert message.channel == Channel.LETTER


def test_letter_scan_must_be_a_scan():
    with pytest.raises(ValidationError):
        scanned(scan={"media_type": "text/html", "content_base64": PDF})
    with pytest.raises(ValidationError):
        scanned(scan={"media_type": "application/pdf", "content_base64": "a"})  # not base64


# --- HTML reduction ----------------------------------------------------------------------


def test_html_reduction_keeps_words_and_paragraphs_only():
    html = (
        "<html><head><style>p{}</style><title>t</title></head><body>"
        "<!--[if mso]><p>hidden</p><![endif]--><p>Eerste&nbsp;alinea</p>"
        "<p>Tweede<br>regel &amp; meer</p><script>evil()</script></body></html>"
    )
    assert html_to_text(html) == "Eerste alinea\n\nTweede\nregel & meer"
