import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.router.domain.model import Case, case_number, match_case, origin_key
from shared.contracts import Channel, IdentifierKind, InboundMessage, SenderIdentifier, Trust

NOW = datetime(2026, 11, 29, tzinfo=UTC)
PARTY = uuid.uuid4()


def _message(**kw):
    return InboundMessage(message_id=uuid.uuid4(), channel=Channel.WEB, received_at=NOW, **kw)


def _case(number="ZAAK-2026-0000000001", product=None, status="open", age=0):
    return Case(
        id=uuid.uuid4(),
        number=number,
        party_id=PARTY,
        product=product,
        status=status,
        owner_team="kcc",
        opened_at=NOW - timedelta(days=age),
    )


def test_case_number_format():
    assert case_number(2026, 123) == "ZAAK-2026-0000000123"
    with pytest.raises(ValueError, match="range"):
        case_number(2026, 10**10)


@pytest.mark.parametrize(
    ("message", "cases", "expected_rule", "expected_index"),
    [
        (
            _message(case_number_hint="ZAAK-2026-0000000002"),
            [_case(), _case("ZAAK-2026-0000000002", status="afgehandeld")],
            "case-number",
            1,
        ),
        (
            _message(product_hint="afval"),
            [_case(product="paspoort"), _case(product="afval")],
            "open-case-same-product",
            1,
        ),
        (
            _message(product_hint="afval"),
            [_case(product="afval", status="afgehandeld")],
            "new-case",
            None,
        ),
        (_message(case_number_hint="ZAAK-2026-0000000099"), [], "new-case", None),
        (
            _message(),
            [_case(age=5), _case("ZAAK-2026-0000000003", age=1)],
            "open-case-same-product",
            1,
        ),
    ],
)
def test_match_case_precedence(message, cases, expected_rule, expected_index):
    match = match_case(message, cases)
    assert match.rule == expected_rule
    assert match.case == (None if expected_index is None else cases[expected_index])


def test_origin_key_prefers_email_then_phone():
    sender = [
        SenderIdentifier(kind=IdentifierKind.PHONE, value="+31612345678", trust=Trust.CLAIMED),
        SenderIdentifier(kind=IdentifierKind.EMAIL, value="a@b.nl", trust=Trust.CLAIMED),
    ]
    assert origin_key(_message(sender=sender)) == "email:a@b.nl"
    assert origin_key(_message()) is None
