"""E-mail evidence: the From address gets ``dmarc`` only when a gateway the municipality
trusts wrote, in its own Authentication-Results header (RFC 8601), dmarc=pass for the From
domain. Anything the sender could have written is ignored."""

from __future__ import annotations

import uuid

import pytest

from services.ingest.channels.email import parse, to_message
from shared.contracts import Evidence, Trust

GATEWAY = "mx.gemeente.example"
TRUSTED = frozenset({GATEWAY})
PASS = (
    f"{GATEWAY}; spf=pass smtp.mailfrom=example.nl; dkim=pass header.d=example.nl;"
    " dmarc=pass (p=reject) header.from=example.nl"
)


def raw(*headers: str, sender: str = "Bewoner <bewoner@example.nl>") -> bytes:
    lines = [f"Authentication-Results: {h}" for h in headers]
    lines += [
        f"From: {sender}",
        "To: meldingen@gemeente.example",
        "Subject: Vraag",
        f"Message-ID: <{uuid.uuid4()}@example.nl>",
    ]
    return ("\r\n".join(lines) + "\r\n\r\nHallo.\r\n").encode()


def evidence(message: bytes, trusted: frozenset[str] = TRUSTED) -> tuple[object, ...]:
    (sender,) = to_message(
        parse(message), message_id=uuid.uuid4(), attachments=[], trusted_authserv_ids=trusted
    ).sender
    assert sender.trust == Trust.CLAIMED  # evidence never sets the rung: the router does
    return (sender.evidence, sender.evidence_detail)


DMARC = (Evidence.DMARC, GATEWAY)
NONE = (None, None)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (raw(PASS), DMARC),
        (raw(f"{GATEWAY}; dmarc=fail (p=reject) header.from=example.nl"), NONE),
        (raw(f"{GATEWAY}; dmarc=none header.from=example.nl"), NONE),
        (raw(f"{GATEWAY}; dmarc=temperror header.from=example.nl"), NONE),
        (raw(f"{GATEWAY}; none"), NONE),
        (raw(f"{GATEWAY}; spf=pass smtp.mailfrom=example.nl; dkim=pass header.d=example.nl"), NONE),
        (raw("mx.elders.example; dmarc=pass header.from=example.nl"), NONE),
        (raw(f"{GATEWAY}.evil.example; dmarc=pass header.from=example.nl"), NONE),
        (raw(f"{GATEWAY}; dmarc=pass header.from=other.example"), NONE),
        (raw(f"{GATEWAY}; dmarc=pass header.from=sub.example.nl"), NONE),
        (raw(f"{GATEWAY}; dmarc=pass header.from=nl"), NONE),
        (raw(PASS, sender="a@example.nl, b@example.nl"), NONE),
        (raw(PASS, sender="Bewoner <bewoner@example.nl>, Ander <ander@example.nl>"), NONE),
        (raw(PASS, sender="bewoners: a@example.nl;"), NONE),
        (raw(PASS, sender="bewoner@example.nl iemand@elders.example"), NONE),  # read with doubt
        (raw(PASS).replace(b"From:", b"From: x@other.example\r\nFrom:", 1), NONE),
        (raw(PASS).replace(b"To:", b"From: x@other.example\r\nTo:", 1), NONE),
        (  # a forged header above the trusted one (it says pass, the gateway fail)
            raw(
                "mx.vervalst.example; dmarc=pass header.from=example.nl",
                f"{GATEWAY}; dmarc=fail header.from=example.nl",
            ),
            NONE,
        ),
        (  # another authserv-id's failure above does not spoil the gateway's pass
            raw("mx.vervalst.example; dmarc=fail header.from=example.nl", PASS),
            DMARC,
        ),
        (  # the gateway's own header is the topmost with its id; one below came with the mail
            raw(f"{GATEWAY}; dmarc=fail header.from=example.nl", PASS),
            NONE,
        ),
        (  # one header contradicting itself is no pass
            raw(f"{GATEWAY}; dmarc=pass header.from=example.nl; dmarc=fail header.from=example.nl"),
            NONE,
        ),
        (raw("this is not an authentication-results value"), NONE),
        (raw("garbage ;;; ===", PASS), DMARC),  # an unparseable header is skipped, not fatal
        (raw(), NONE),
        (raw(f"{GATEWAY} 1; dmarc=pass header.from=example.nl"), DMARC),  # with a version
        (raw("MX.Gemeente.Example; DMARC=Pass header.from=EXAMPLE.NL."), DMARC),  # any case
        (
            raw(f'(gateway) {GATEWAY}; dmarc=pass policy.dmarc=reject header.from="example.nl"'),
            DMARC,
        ),
        (raw(f"((nested) comment) {GATEWAY}; dmarc=pass header.from=example.nl"), DMARC),
        (raw(f"{GATEWAY}(c)evil; dmarc=pass header.from=example.nl"), NONE),
        (raw(f'"{GATEWAY}"; dmarc=pass header.from=example.nl', PASS), NONE),
    ],
    ids=[
        "trusted-pass",
        "trusted-fail",
        "trusted-dmarc-none",
        "trusted-temperror",
        "trusted-no-results",
        "trusted-spf-dkim-only",
        "untrusted-authserv-id-pass",
        "lookalike-authserv-id-pass",
        "pass-for-another-domain",
        "pass-for-a-subdomain",
        "pass-for-a-parent-domain",
        "one-from-two-mailboxes",
        "one-from-two-named-mailboxes",
        "from-as-a-group",
        "from-read-with-doubt",
        "two-from-headers-first-unauthenticated",
        "two-from-headers-second-unauthenticated",
        "forged-pass-above-trusted-fail",
        "untrusted-fail-above-trusted-pass",
        "trusted-fail-above-forged-trusted-pass",
        "contradicting-results",
        "unparseable-header",
        "unparseable-header-above-pass",
        "no-header",
        "version",
        "case-insensitive",
        "comments-quotes-and-policy",
        "nested-comment-before-the-id",
        "id-glued-to-a-comment-and-more",
        "quoted-id-not-read-by-authres-hides-the-one-below",
    ],
)
def test_from_evidence(message, expected):
    assert evidence(message) == expected


def test_nothing_is_trusted_unless_configured():
    assert evidence(raw(PASS), trusted=frozenset()) == NONE
    assert evidence(raw(PASS), trusted=frozenset({"mx.other.example"})) == NONE
    two = frozenset({"mx.other.example", GATEWAY})
    assert evidence(raw(PASS), trusted=two) == DMARC


def test_sender_never_substitutes_for_from():
    message = raw(PASS, sender="iemand@elders.example").replace(
        b"To:", b"Sender: bewoner@example.nl\r\nTo:", 1
    )
    parsed = parse(message)
    assert parsed.from_address == "iemand@elders.example"
    assert evidence(message) == NONE


def test_several_from_mailboxes_still_accepted_with_the_first_as_sender():
    parsed = parse(raw(PASS, sender="Eerste <eerste@example.nl>, tweede@example.nl"))
    assert (parsed.from_address, parsed.from_name) == ("eerste@example.nl", "Eerste")
    two_headers = parse(raw(PASS).replace(b"From:", b"From: x@other.example\r\nFrom:", 1))
    assert two_headers.from_address == "x@other.example"


def test_internationalised_domain_matches_its_a_label():
    sender = "Jörg <jörg@bücher.example>"
    a_label = raw(f"{GATEWAY}; dmarc=pass header.from=xn--bcher-kva.example", sender=sender)
    u_label = raw(f"{GATEWAY}; dmarc=pass header.from=bücher.example", sender=sender)
    other = raw(f"{GATEWAY}; dmarc=pass header.from=bucher.example", sender=sender)
    assert evidence(a_label) == DMARC
    # RFC 8601's grammar is ASCII: a value with a U-label is not read, so it proves nothing
    assert evidence(u_label) == evidence(other) == NONE


def test_an_unreadable_trusted_header_on_top_hides_the_ones_below():
    gateway = f"{GATEWAY}; dmarc=pass header.from=bücher.example"  # not RFC 8601 (ASCII)
    below = f"{GATEWAY}; dmarc=pass header.from=example.nl"  # came with the message
    assert evidence(raw(gateway, below)) == NONE
    assert evidence(raw(f"(comment) {GATEWAY}; ;;; garbage", below)) == NONE


def test_a_folded_header_is_read_whole():
    folded = (
        f"{GATEWAY};\r\n\tspf=pass smtp.mailfrom=example.nl;\r\n\tdmarc=pass header.from=example.nl"
    )
    assert evidence(raw(folded)) == DMARC


def test_only_the_header_that_counts_is_parsed():
    """authres takes about a millisecond a header: others' headers are not parsed at all."""
    from services.ingest.channels import email_evidence as channel

    others = [
        f"mx{n}.elders.example; dmarc=pass header.from=example.nl {uuid.uuid4()}" for n in range(5)
    ]
    unique_pass = f"{PASS} (id {uuid.uuid4()})"
    before = channel._parsed_authentication_results.cache_info()
    assert evidence(raw(*others, unique_pass)) == DMARC
    after = channel._parsed_authentication_results.cache_info()
    assert after.misses - before.misses == 1
