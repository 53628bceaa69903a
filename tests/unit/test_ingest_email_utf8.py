"""Internationalised mail (RFC 6532): raw UTF-8 (or other 8-bit bytes) in the headers is
accepted, and no header bytes whatever make ``parse`` or the message it gives crash."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.ingest.channels.email import (
    EmailRefusedError,
    MalformedEmailError,
    parse,
    to_message,
)
from shared.contracts import MessageReceived

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"


def mail(from_line: bytes, *extra: bytes) -> bytes:
    return (
        b"From: "
        + from_line
        + b"\r\n"
        + b"".join(e + b"\r\n" for e in extra)
        + b"To: meldingen@gemeente.example\r\nSubject: Vraag\r\n\r\nHallo.\r\n"
    )


def published(raw: bytes) -> bytes:
    """What ingest would put on Kafka (the whole CloudEvent, as bytes)."""
    message = to_message(
        parse(raw),
        message_id=uuid.uuid4(),
        attachments=[],
        trusted_authserv_ids=frozenset({"mx.gemeente.example"}),
    )
    # As services/ingest/service.py serialises it (orjson refuses unpaired surrogates).
    data = orjson.dumps(MessageReceived(message=message).model_dump(mode="json"))
    assert data == MessageReceived(message=message).model_dump_json().encode()
    return data


@pytest.mark.parametrize(
    ("from_line", "address", "name"),
    [
        ("Jörg Müller <j@example.nl>".encode(), "j@example.nl", "Jörg Müller"),
        ("jörg@example.nl".encode(), "jörg@example.nl", None),
        (
            '"Müller, Jörg" <Jörg.Müller@Example.NL>'.encode(),
            "jörg.müller@example.nl",
            "Müller, Jörg",
        ),
        ("Jörg <jörg@bücher.example>".encode(), "jörg@bücher.example", "Jörg"),
        ("山田太郎 <山田@例え.jp>".encode(), "山田@例え.jp", "山田太郎"),
        # Raw 8-bit that is not UTF-8 in a display name: Windows-1252, as mail clients mean it
        (b"J\xf6rg M\xfcller <j@example.nl>", "j@example.nl", "Jörg Müller"),
        # An encoded word and raw UTF-8 in one name
        ("=?iso-8859-1?q?Jos=E9?= Müller <j@example.nl>".encode(), "j@example.nl", "José Müller"),
    ],
    ids=[
        "utf8-display-name",
        "utf8-local-part",
        "utf8-quoted-name-and-upper-case",
        "utf8-domain",
        "cjk",
        "latin1-display-name",
        "encoded-word-and-raw-utf8",
    ],
)
def test_utf8_from_is_accepted(from_line, address, name):
    raw = mail(from_line, "To: báz <b@gemeente.example>".encode())
    parsed = parse(raw)
    assert (parsed.from_address, parsed.from_name) == (address, name)
    assert parsed.to == ["b@gemeente.example"]  # a raw UTF-8 display name in To as well
    assert address.encode() in published(raw)  # the event serialises


def test_an_address_that_is_not_utf8_is_refused_not_guessed():
    with pytest.raises(MalformedEmailError) as refused:
        parse(mail(b"j\xf6rg@example.nl"))
    assert refused.value.http_status == 400
    assert refused.value.smtp_reply.startswith("554 5.6.0")
    assert "UTF-8" in refused.value.detail


def test_the_cpython_message_with_raw_utf8_headers():
    raw = (FIXTURES / "cpython_utf8_headers.eml").read_bytes()
    parsed = parse(raw)
    assert parsed.from_address == "főo@bar.example"
    assert parsed.from_name == "Páolo Fõo"
    subject = "Maintenant je vous présente mon collègue, le pouf célèbre\tJean de Baddie"
    assert parsed.subject == subject  # folded with a tab, unfolded as RFC 5322 says
    assert parsed.text == "Да, они летят."
    assert "főo@bar.example".encode() in published(raw)


# --- no header bytes ever crash: refused with a reason, or parsed into a publishable event --

_HEADER_NAMES = st.sampled_from(
    [
        b"From",
        b"To",
        b"Cc",
        b"Reply-To",
        b"Sender",
        b"Subject",
        b"Message-ID",
        b"In-Reply-To",
        b"References",
        b"Content-Type",
        b"Content-Disposition",
        b"Content-Language",
        b"Content-Transfer-Encoding",
        b"Authentication-Results",
        b"MIME-Version",
        b"X-Anything",
    ]
)
_VALUE_BYTES = st.binary(max_size=120).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
_VALUES = st.one_of(
    _VALUE_BYTES,
    st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.lists(
        st.sampled_from(
            [
                b"=?utf-8?q?",
                b"=?x?b?",
                b"?=",
                b"<",
                b">",
                b'"',
                b"\\",
                b"@",
                b",",
                b";",
                b":",
                b"(",
                b")",
                b"\xc3",
                b"\xa9",
                b"\xff",
                b" ",
                b"\t",
                b"a",
                b"dmarc=pass",
                b"header.from=",
                b"\r\n ",
            ]
        ),
        max_size=40,
    ).map(b"".join),
)


def _check(raw: bytes) -> None:
    try:
        parse(raw)
    except EmailRefusedError as exc:  # the only way parse may say no
        refused = exc
    else:
        published(raw)  # never an exception after parse: this is what made the 500 and the 451
        return
    assert refused.http_status in (400, 422)
    assert refused.smtp_reply.startswith(("554 5.6.0", "4"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_HEADER_NAMES, _VALUES), min_size=1, max_size=8), _VALUES)
@example([(b"From", "Jörg Müller <j@example.nl>".encode())], b"")
@example([(b"From", b"J\xc3\xb6rg <j\xc3\xb6rg@example.nl>")], b"")
@example([(b"From", b"a@example.nl"), (b"To", b"b\xe1z <\xff@x.nl>")], b"")
@example([(b"From", b'"\xc3" <a@b.nl>')], b"")
def test_random_header_bytes_never_crash(headers, from_value):
    raw = b"From: " + from_value + b"@example.nl\r\n"
    raw += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    _check(raw + b"\r\nHallo.\r\n")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_in_a_from_header_never_crash(value):
    _check(b"From: " + value.replace(b"\n", b" ") + b"\r\nSubject: x\r\n\r\nbody\r\n")
