"""A rebuild's report names differing rows by their keys, but never by personal data: an
identifier's value or a normalised name is left out, the party id stays."""

from services.caseview.projection_diff import _named


def test_keys_holding_personal_data_are_named_by_their_party_only() -> None:
    party = "0193c0de-0000-7000-8000-000000000001"
    keys = [f"{party}/bsn/123456782", f"{party}/email/jan@example.nl"]
    assert _named("party_identifiers", keys) == (party,)
    assert _named("party_name_keys", [f"{party}/jan jansen"]) == (party,)


def test_other_keys_are_named_as_they_are_up_to_five() -> None:
    keys = [f"case-{n}" for n in range(8)]
    assert _named("cases", keys) == tuple(keys[:5])
