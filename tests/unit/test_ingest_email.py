"""The e-mail channel's parser: real-world shapes in, one canonical message out (or a reason)."""

from __future__ import annotations

import contextlib
import uuid
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest.channels.email import (
    EmailLimits,
    EmailRefusedError,
    HeaderInjectionError,
    MalformedEmailError,
    parse,
    to_message,
)
from shared.contracts import Channel, IdentifierKind, Trust

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def build(**headers: str) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    defaults = {
        "From": "Bewoner <bewoner@example.nl>",
        "To": "info@gemeente.nl",
        "Subject": "Vraag",
        "Message-ID": make_msgid(domain="example.nl"),
    }
    for name, value in (defaults | headers).items():
        msg[name] = value
    return msg


# --- real-world shapes, as literal fixtures --------------------------------------------


def test_outlook_reply_quoted_printable_windows_1252_and_threading():
    parsed = parse(fixture("outlook_reply.eml"))
    assert parsed.from_address == "jose.vdberg@example.nl"  # lower-cased
    assert parsed.from_name == "José van der Beré"  # RFC 2047, ISO-8859-1
    assert parsed.subject == "RE: Aanvraag evenementenvergunning \u2013 Koningsdag"  # cp1252 dash
    assert "Het café op de hoek doet ook mee \u2013 is dat een probleem?" in parsed.text
    assert "<html" not in parsed.text and "MsoNormal" not in parsed.text  # plain part chosen
    assert parsed.thread_refs() == [
        "email:AM0PR01MB1234ABCD5678EF@AM0PR01MB1234.eurprd01.prod.exchangelabs.com",
        "email:case-4711.reply@gemeente.nl",  # In-Reply-To
        "email:first-question@example.nl",  # References (the duplicate dropped)
    ]
    assert parsed.attachments == []


def test_nested_multipart_mixed_with_inline_image_and_rfc2231_filename():
    parsed = parse(fixture("nested_mixed_attachments.eml"))
    assert parsed.subject == "Aanvraag Wmo \u2013 traplift 🏠"  # UTF-8 base64 encoded-word
    assert parsed.text.startswith("Goedemorgen,\n\nIn de bijlage de aanvraag")
    # The HTML alternative is not repeated in the text.
    assert parsed.text.count("traplift") == 1
    names = [(b.filename, b.media_type) for b in parsed.attachments]
    assert names == [
        (None, "image/png"),  # inline image of the HTML version
        ("aanvraag traplift \u2013 ingevuld.pdf", "application/pdf"),
        ("notities.txt", "text/plain"),
    ]
    assert parsed.attachments[0].data.startswith(b"\x89PNG")
    assert parsed.attachments[1].data.startswith(b"%PDF-1.4")
    assert parsed.attachments[2].data == b"trap: 14 treden\n"


def test_forwarded_message_is_an_attachment_and_not_a_thread_reference():
    parsed = parse(fixture("forwarded_as_attachment.eml"))
    assert parsed.from_address == "jan@example.nl"
    assert parsed.text == "Zie het doorgestuurde bericht van mijn buurman. Groet, Jan"
    (forwarded,) = parsed.attachments
    assert forwarded.media_type == "message/rfc822"
    assert forwarded.filename == "Overlast bouwplaats.eml"
    assert b"Er wordt 's nachts geheid." in forwarded.data
    # The forwarded message's own Message-ID is not this message's thread.
    assert parsed.thread_refs() == ["email:fwd-456@example.nl"]


def test_koi8r_body_and_headers_and_content_language():
    parsed = parse(fixture("koi8r_plain.eml"))
    assert parsed.from_name == "Иван Петров"
    assert parsed.subject == "Привет"
    assert parsed.text == "Здравствуйте! Мой сосед шумит."
    assert parsed.language == "ru"


def test_html_only_body_is_reduced_to_text():
    parsed = parse(fixture("html_only_cp1252.eml"))
    assert parsed.text == "Vraag\n\nWaar kan ik mijn “grofvuil” kwijt?\n\nbank\n\nkast"
    assert "alert" not in parsed.text


# --- shapes built with the standard library -------------------------------------------


def test_multipart_alternative_built_by_the_stdlib():
    msg = build(
        From='"Jansen, Pieter" <P.Jansen@Example.NL>', Subject="Ophalen grofvuil \u2013 €25?"
    )
    msg.set_content("Kan het grofvuil volgende week opgehaald worden?\n")
    msg.add_alternative("<p>Kan het <b>grofvuil</b> volgende week opgehaald worden?</p>", "html")
    raw = msg.as_bytes()
    assert b"=?utf-8?" in raw  # the stdlib encoded the subject (RFC 2047)
    parsed = parse(raw)
    assert parsed.subject == "Ophalen grofvuil \u2013 €25?"
    assert parsed.from_name == "Jansen, Pieter"
    assert parsed.from_address == "p.jansen@example.nl"
    assert parsed.text == "Kan het grofvuil volgende week opgehaald worden?"


def test_latin1_quoted_printable_and_base64_attachment_roundtrip():
    msg = build(Subject="Één vraag over de ÖZB")
    msg.set_content(
        "Ik heb één vraag over de ÖZB-aanslag.\n", charset="iso-8859-1", cte="quoted-printable"
    )
    payload = bytes(range(256)) * 10
    msg.add_attachment(payload, maintype="application", subtype="octet-stream", filename="ozb.bin")
    parsed = parse(msg.as_bytes())
    assert parsed.subject == "Één vraag over de ÖZB"
    assert parsed.text == "Ik heb één vraag over de ÖZB-aanslag."
    (attachment,) = parsed.attachments
    assert attachment.data == payload
    assert attachment.filename == "ozb.bin"


def test_unknown_charset_is_decoded_with_replacement_not_refused():
    raw = (
        b"From: a@example.nl\r\nSubject: x\r\n"
        b"Content-Type: text/plain; charset=x-made-up\r\n\r\nhallo w\xe9reld\r\n"
    )
    assert parse(raw).text.startswith("hallo w")


def test_to_message_is_claimed_email_with_thread_refs():
    parsed = parse(fixture("outlook_reply.eml"))
    message_id = uuid.uuid4()
    message = to_message(parsed, message_id=message_id, attachments=[])
    assert message.channel == Channel.EMAIL
    assert message.message_id == message_id
    (sender,) = message.sender
    assert (sender.kind, sender.value, sender.trust) == (
        IdentifierKind.EMAIL,
        "jose.vdberg@example.nl",
        Trust.CLAIMED,
    )
    assert message.channel_message_id == (
        "AM0PR01MB1234ABCD5678EF@AM0PR01MB1234.eurprd01.prod.exchangelabs.com"
    )
    assert message.thread_refs[0] == f"email:{message.channel_message_id}"
    assert message.case_number_hint is None  # ingest does not read numbers from text


def test_idempotency_key_is_the_content_with_line_endings_normalised():
    msg = build()
    msg.set_content("een vraag")
    crlf = msg.as_bytes()  # policy.SMTP: CRLF, as over SMTP
    assert b"\r\n" in crlf
    lf, cr = crlf.replace(b"\r\n", b"\n"), crlf.replace(b"\r\n", b"\r")
    keys = {tuple(parse(raw).idempotency_keys()) for raw in (crlf, lf, cr)}
    assert len(keys) == 1
    ((scope, key),) = keys.pop()
    assert scope == "email:content-sha256" and len(key) == 64
    # The same Message-ID with other content is another message: another key.
    msg.set_content("een andere vraag")
    assert parse(msg.as_bytes()).idempotency_keys()[0][1] != key
    # No Message-ID at all: the content still decides.
    del msg["Message-ID"]
    assert parse(msg.as_bytes()).idempotency_keys() == parse(msg.as_bytes()).idempotency_keys()


def test_a_very_long_text_travels_whole_as_an_attachment():
    msg = build()
    msg.set_content("woord " * 5_000)
    parsed = parse(msg.as_bytes(), EmailLimits(max_text_chars=1_000))
    assert len(parsed.text) < 1_100
    assert parsed.text.endswith("[... the full text is attached as body.txt]")
    body = parsed.attachments[0]
    assert body.filename == "body.txt"
    assert body.data.decode().count("woord") == 5_000


# --- hostile and broken input ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "error", "fragment"),
    [
        (b"", MalformedEmailError, "empty"),
        (b"From: a@example.nl\r\nSubject: x\x00y\r\n\r\nbody", MalformedEmailError, "NUL"),
        (
            b"From: a@example.nl\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\nbody",
            MalformedEmailError,
            "header line",
        ),
        (
            b"From: a@example.nl\r\n" + b"X-H: 1\r\n" * 600 + b"\r\nbody",
            MalformedEmailError,
            "header fields",
        ),
        (b"\x89PNG\r\n\x1a\n\x01\x02garbage", MalformedEmailError, "well-formed"),
        (
            b"From: a@example.nl\r\nContent-Type: multipart/mixed; boundary=XYZ\r\n\r\n"
            b"no parts\r\n",
            MalformedEmailError,
            "well-formed",
        ),
        (
            b"From: a@example.nl\r\nSubject: =?utf-8?q?hi=0D=0ABcc=3A_x=40example.org?=\r\n\r\nb",
            HeaderInjectionError,
            "Subject",
        ),
        (
            b"From: =?utf-8?q?Eve=0D=0ABcc=3A?= <eve@example.org>\r\n\r\nbody",
            HeaderInjectionError,
            "line breaks",
        ),
        (b"To: info@gemeente.nl\r\nSubject: no sender\r\n\r\nbody", EmailRefusedError, "From"),
        (b"From: undisclosed-recipients:;\r\n\r\nbody", EmailRefusedError, "From"),
    ],
    ids=[
        "empty",
        "nul-byte",
        "absurd-header-line",
        "too-many-headers",
        "binary-garbage",
        "multipart-without-parts",
        "encoded-word-crlf-subject",
        "encoded-word-crlf-from",
        "no-from",
        "from-without-address",
    ],
)
def test_hostile_input_is_refused_with_a_reason(raw, error, fragment):
    with pytest.raises(error) as refused:
        parse(raw)
    assert fragment in refused.value.detail


def test_refusals_map_to_http_and_smtp_codes():
    assert MalformedEmailError("x").http_status == 400
    assert EmailRefusedError("x").http_status == 422
    assert EmailRefusedError("x").smtp_reply.startswith("554 ")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=2_000),
        st.builds(
            lambda head, body: b"From: a@example.nl\r\nContent-Type: " + head + b"\r\n\r\n" + body,
            st.binary(max_size=200),
            st.binary(max_size=1_000),
        ),
    )
)
def test_no_input_crashes_the_parser(raw):
    with contextlib.suppress(EmailRefusedError):
        parse(raw)


# --- remembered header values (services.ingest.channels.email._RememberingPolicy) ---------


def _outcome(raw: bytes) -> object:
    try:
        return parse(raw)
    except EmailRefusedError as refused:
        return (type(refused), refused.detail)


@pytest.mark.parametrize(
    "raw",
    [fixture(p.name) for p in sorted(FIXTURES.glob("*.eml"))]
    + [
        b"From: a@example.nl\r\nSubject: =?utf-8?q?hi=0D=0ABcc=3A_x=40example.org?=\r\n\r\nb",
        b"From: =?utf-8?q?Eve=0D=0ABcc=3A?= <eve@example.org>\r\n\r\nbody",
        bytes(build(Subject="=?iso-8859-1?q?caf=E9?=", To="a@x.nl, B <b@y.nl>")),
    ],
    ids=lambda raw: str(len(raw)),
)
def test_remembered_headers_parse_exactly_as_policy_default(raw, monkeypatch):
    """Twice through the remembering policy (the second time from its cache) and once
    through ``policy.default`` itself: the same message, or the same refusal."""
    from services.ingest.channels import email as channel

    first, second = _outcome(raw), _outcome(raw)
    monkeypatch.setattr(channel, "_POLICY", policy.default)
    plain = _outcome(raw)
    assert first == second == plain


def test_header_values_are_parsed_once_and_long_ones_are_not_kept():
    from services.ingest.channels import email as channel

    sender = f"Bewoner <b-{uuid.uuid4().hex}@example.nl>"
    before = channel._parsed_header.cache_info()
    parse(bytes(build(From=sender)))
    parse(bytes(build(From=sender)))
    after = channel._parsed_header.cache_info()
    assert after.hits > before.hits  # the second message's From came from the cache
    fetch = channel._POLICY.header_fetch_parse
    assert fetch("Subject", "Vraag") is fetch("Subject", "Vraag")
    long_subject = "x" * (channel._REMEMBERED_VALUE_CHARS + 1)
    assert fetch("Subject", long_subject) is not fetch("Subject", long_subject)
    assert fetch("Subject", long_subject) == long_subject
