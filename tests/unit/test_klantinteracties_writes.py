"""The write's pure rules (services/caseview/klantinteracties/writes.py): kanaal → channel and
the integration's kanalen, the trust rule, the contact name."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from services.caseview.klantinteracties.auth import Integration, token_hash
from services.caseview.klantinteracties.writes import Contactnaam, channel_of, sender
from shared.contracts import Channel
from shared.http import ProblemError


def kcc(*, asserts: bool, kanalen: frozenset[Channel] = frozenset({Channel.PHONE})) -> Integration:
    return Integration(
        name=f"kcc-{uuid.uuid4().hex[:6]}",
        token_sha256=token_hash(uuid.uuid4().hex),
        kanalen=kanalen,
        asserts_identity=asserts,
    )


def test_kanaal_names_map_onto_channels_the_integration_may_write() -> None:
    who = kcc(asserts=False, kanalen=frozenset({Channel.PHONE, Channel.COUNTER}))
    assert channel_of(who, "Telefoon") == Channel.PHONE
    assert channel_of(who, "balie") == Channel.COUNTER
    with pytest.raises(ProblemError) as refused:
        channel_of(who, "e-mail")
    assert refused.value.problem.status == 403
    with pytest.raises(ProblemError) as unknown:
        channel_of(who, "duif")
    assert unknown.value.problem.status == 400
    with pytest.raises(ProblemError) as reader:
        channel_of(kcc(asserts=False, kanalen=frozenset()), "telefoon")
    assert reader.value.problem.status == 403


def test_a_bsn_in_a_body_is_claimed_unless_the_integration_asserts_identity() -> None:
    rows = [SimpleNamespace(kind="bsn", value="123456782"), SimpleNamespace(kind="kvk", value="1")]
    claimed = sender(kcc(asserts=False), rows)
    assert [(s.trust, s.evidence) for s in claimed] == [("claimed", None), ("claimed", None)]
    asserted = sender(kcc(asserts=True), rows)
    assert [(s.kind, s.trust, s.evidence) for s in asserted] == [
        ("bsn", "authenticated", "id-document"),
        ("kvk", "claimed", None),  # no KCC evidence proves an eHerkenning login
    ]


def test_the_contact_name_is_put_together() -> None:
    name = Contactnaam(voornaam="Anna", voorvoegselAchternaam="de", achternaam="Vries")
    assert name.full() == "Anna de Vries"
    assert Contactnaam(voorletters="A.", achternaam="Jansen").full() == "A. Jansen"
    assert Contactnaam().full() is None


def test_a_contact_name_longer_than_a_party_name_may_be_is_refused() -> None:
    """Accepted, it would fail the router's insert (200 characters) after the 201."""
    Contactnaam(voornaam="A" * 100, achternaam="B" * 99)  # 200 with the space: fits
    with pytest.raises(ValidationError, match="langer dan 200 tekens"):
        Contactnaam(voornaam="A" * 100, achternaam="B" * 100)
