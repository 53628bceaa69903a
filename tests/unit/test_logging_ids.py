"""The log scrubber removes personal data and never alters the ids operators search logs by
(issue #21: message ids came out as ``01a242d<number>d27-…``)."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from shared.ids import new_id
from shared.logging import scrub

uuids = st.uuids() | st.builds(lambda _: new_id(), st.integers())
case_numbers = st.builds(
    lambda year, n: f"ZAAK-{year}-{n:010d}", st.integers(2000, 2099), st.integers(0, 10**10 - 1)
)
trace_ids = st.integers(1, 2**128 - 1).map(lambda n: f"{n:032x}")
span_ids = st.integers(1, 2**64 - 1).map(lambda n: f"{n:016x}")
ids = uuids.map(str) | uuids.map(lambda u: u.hex) | case_numbers | trace_ids | span_ids
separators = st.sampled_from([" ", ", ", ": ", "=", "/", " (", ") ", "\n"])


@given(st.lists(ids, min_size=1, max_size=4), separators)
def test_ids_pass_unchanged(values: list[str], sep: str) -> None:
    text = "routed " + sep.join(values) + sep + "done"
    assert scrub(text) == text


@given(uuids, case_numbers, trace_ids)
def test_personal_data_next_to_ids_is_still_removed(
    an_id: uuid.UUID, number: str, trace: str
) -> None:
    text = (
        f"message {an_id} of case {number} (trace {trace}) from jan@example.nl, "
        "bsn 123456782, tel +31 6 1234 5678"
    )
    out = scrub(text)
    assert str(an_id) in out and number in out and trace in out
    for personal in ("jan@example.nl", "123456782", "1234 5678"):
        assert personal not in out


def test_a_message_id_that_looked_like_a_number_is_kept() -> None:
    # The id from the issue: a UUIDv7 whose middle groups are digits only.
    text = "published 01a242d0-1234-7567-8901-234567890d27"
    assert scrub(text) == text
