"""The closed vocabularies: one spelling, and the Literal forms agree with the enums."""

from typing import get_args

from shared.contracts import OPEN_STATUSES, CaseStatus, OpenStatus


def test_open_status_literal_is_every_status_but_closed() -> None:
    assert set(get_args(OpenStatus)) == {s.value for s in OPEN_STATUSES}
    assert CaseStatus.CLOSED not in OPEN_STATUSES
    assert set(OPEN_STATUSES) | {CaseStatus.CLOSED} == set(CaseStatus)


def test_statuses_keep_the_words_stored_rows_and_events_have() -> None:
    assert [s.value for s in CaseStatus] == [
        "open",
        "in behandeling",
        "wacht op inwoner",
        "afgehandeld",
    ]
