"""Case matching (design §5) as pure logic, table-driven."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.router.domain.model import Case, case_number, match_case, quoted_case_number
from shared.contracts import Channel, InboundMessage

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
ME = uuid.uuid4()
MERGED_INTO_ME = uuid.uuid4()
OTHER = uuid.uuid4()


def _case(number="ZAAK-2026-0000000001", party=ME, product=None, status="open", idle_days=0):
    return Case(
        id=uuid.uuid4(),
        number=number,
        party_id=party,
        product=product,
        status=status,
        owner_team="kcc",
        opened_at=NOW - timedelta(days=idle_days + 1),
        last_activity_at=NOW - timedelta(days=idle_days),
    )


def _match(**kw):
    args = {
        "party_ids": frozenset({ME, MERGED_INTO_ME}),
        "quoted": None,
        "quoted_number": None,
        "threaded": [],
        "party_cases": [],
        "product": None,
        "now": NOW,
        "window_days": 30,
    } | kw
    return match_case(**args)


def test_case_number_format():
    assert case_number(2026, 123) == "ZAAK-2026-0000000123"
    with pytest.raises(ValueError, match="range"):
        case_number(2026, 10**10)


def test_quoted_number_from_form_field_then_text():
    base = {"message_id": uuid.uuid4(), "channel": Channel.EMAIL, "received_at": NOW}
    assert quoted_case_number(InboundMessage(**base, case_number_hint="ZAAK-2026-0000000007")) == (
        "ZAAK-2026-0000000007"
    )
    text = InboundMessage(**base, subject="Re: uw zaak ZAAK-2026-0000000042", text="")
    assert quoted_case_number(text) == "ZAAK-2026-0000000042"
    assert quoted_case_number(InboundMessage(**base, text="ZAAK-26-1")) is None


own_closed = _case("ZAAK-2026-0000000002", status="afgehandeld")
of_other = _case("ZAAK-2026-0000000003", party=OTHER)
of_merged = _case("ZAAK-2026-0000000004", party=MERGED_INTO_ME)
thread_own = _case("ZAAK-2026-0000000005")
thread_other = _case("ZAAK-2026-0000000006", party=OTHER)
afval_open = _case("ZAAK-2026-0000000007", product="afvalcontainer", idle_days=3)
afval_stale = _case("ZAAK-2026-0000000008", product="afvalcontainer", idle_days=45)
paspoort_open = _case("ZAAK-2026-0000000009", product="paspoort")


@pytest.mark.parametrize(
    ("kwargs", "expected_case", "rule", "flags"),
    [
        pytest.param(
            {"quoted": own_closed}, own_closed, "case-number", [], id="own-number-even-closed"
        ),
        pytest.param(
            {"quoted": of_merged}, of_merged, "case-number", [], id="number-of-merged-party"
        ),
        pytest.param(
            {"quoted": of_other, "party_cases": [afval_open], "product": "afvalcontainer"},
            afval_open,
            "open-case-same-product",
            ["case-number-of-other-party"],
            id="number-of-other-party-flagged-not-linked",
        ),
        pytest.param(
            {"quoted_number": "ZAAK-2026-0000009999"},
            None,
            "new-case",
            ["unknown-case-number"],
            id="unknown-number",
        ),
        pytest.param(
            {"threaded": [thread_own], "party_cases": [afval_open], "product": "afvalcontainer"},
            thread_own,
            "thread",
            [],
            id="thread-beats-product",
        ),
        pytest.param(
            {"threaded": [thread_other]},
            None,
            "new-case",
            ["thread-of-other-party"],
            id="thread-reply-from-new-address-not-linked",
        ),
        pytest.param(
            {"party_cases": [paspoort_open, afval_open], "product": "afvalcontainer"},
            afval_open,
            "open-case-same-product",
            [],
            id="same-product",
        ),
        pytest.param(
            {"party_cases": [afval_stale], "product": "afvalcontainer"},
            None,
            "new-case",
            [],
            id="outside-window",
        ),
        pytest.param(
            {"party_cases": [paspoort_open, afval_open]},
            paspoort_open,
            "open-case-recent",
            [],
            id="no-product-joins-most-recent-open-case",
        ),
        pytest.param(
            {"party_cases": [afval_stale]},
            None,
            "new-case",
            [],
            id="no-product-nothing-recent",
        ),
        pytest.param(
            {"party_cases": [paspoort_open], "product": "afvalcontainer"},
            None,
            "new-case",
            [],
            id="other-product",
        ),
        pytest.param(
            {
                "party_cases": [_case(product="afvalcontainer", status="afgehandeld")],
                "product": "afvalcontainer",
            },
            None,
            "new-case",
            [],
            id="closed-case-not-joined-by-product",
        ),
    ],
)
def test_match_case_precedence(kwargs, expected_case, rule, flags):
    match = _match(**kwargs)
    assert match.case == expected_case
    assert match.rule == rule
    assert [k for k, _ in match.flags] == flags


def test_establishments_of_one_business_are_separate_matters():
    import dataclasses

    centrum = dataclasses.replace(afval_open, establishment="000011112222")
    assert (
        _match(party_cases=[centrum], product="afvalcontainer", establishment="000033334444").rule
        == "new-case"
    )
    same = _match(party_cases=[centrum], product="afvalcontainer", establishment="000011112222")
    assert same.case == centrum
