"""Caseview's pure rules: name and identifier normalisation, confidential products,
need-to-know, opaque cursors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.caseview.normalize import (
    fold,
    identifier,
    is_confidential_product,
    like_prefix,
    name_keys,
)
from services.caseview.paging import QueueKey, TimelineKey
from services.caseview.timeline.live import parse_last_event_id
from services.caseview.viewer import CaseAccess, Viewer
from shared.contracts import IdentifierKind

TERMS = ["bijstand", "Wmo", "jeugd", "schuldhulp"]


def test_fold_ignores_case_accents_and_punctuation() -> None:
    assert fold("  Émile  D'Hondt-Ünal ") == "emile d hondt unal"


def test_name_keys_let_a_prefix_find_every_word() -> None:
    assert name_keys("Fatima el Amrani") == ["amrani", "el amrani", "fatima el amrani"]
    assert name_keys(None) == [] and name_keys("  ") == []


def test_like_prefix_escapes_wildcards() -> None:
    assert like_prefix("a%b_c\\") == "a\\%b\\_c\\\\%"


@pytest.mark.parametrize(
    ("kind", "given", "stored"),
    [
        (IdentifierKind.BSN, "1112.22.333", "111222333"),
        (IdentifierKind.KVK, "1234 5678", "12345678"),
        (IdentifierKind.EMAIL, " Bewoner@Example.NL ", "bewoner@example.nl"),
        (IdentifierKind.PHONE, "06 12345678", "+31612345678"),
        (IdentifierKind.PHONE, "+31 (0)6-1234 5678", "+31612345678"),
        (IdentifierKind.PHONE, "geen nummer", "geen nummer"),
    ],
)
def test_identifiers_are_searched_in_their_stored_form(kind, given, stored) -> None:
    assert identifier(kind, given) == stored


@pytest.mark.parametrize(
    ("product", "confidential"),
    [
        ("Bijstandsuitkering", True),
        ("WMO-voorziening", True),
        ("Jeugdhulp", True),
        ("Schuldhulpverlening", True),
        ("Paspoort", False),
        (None, False),
    ],
)
def test_confidential_products(product, confidential) -> None:
    assert is_confidential_product(product, TERMS) is confidential


def test_need_to_know_owner_and_participants_only() -> None:
    case = CaseAccess(
        id=uuid.uuid4(),
        number="ZAAK-2026-0000000001",
        product="Bijstandsuitkering",
        confidential=False,
        owner_team="werk",
        participants=frozenset({"schuld"}),
    )
    assert Viewer(frozenset({"werk"}), tuple(TERMS)).sees(case)
    assert Viewer(frozenset({"schuld", "kcc"}), tuple(TERMS)).sees(case)
    assert not Viewer(frozenset({"kcc"}), tuple(TERMS)).sees(case)
    # Either the router's flag or the product list makes a case confidential.
    assert Viewer(frozenset({"kcc"}), ()).sees(case)
    flagged = CaseAccess(**{**case.__dict__, "product": "Paspoort", "confidential": True})
    assert not Viewer(frozenset({"kcc"}), tuple(TERMS)).sees(flagged)


def test_cursors_round_trip_and_refuse_forgeries() -> None:
    key = TimelineKey(datetime(2026, 5, 1, 12, tzinfo=UTC), uuid.uuid4(), 7)
    assert TimelineKey.decode(key.encode()) == key
    queue = QueueKey(datetime(2026, 5, 1, tzinfo=UTC), uuid.uuid4())
    assert QueueKey.decode(queue.encode("due"), "due") == queue
    with pytest.raises(ValueError, match="queue cursor"):
        QueueKey.decode(queue.encode("due"), "age")  # a cursor of another sort order
    for forged in ("", "!!!", "bm9wZQ", key.encode()[:-3], "WyJ0IiwxLDIsM10"):
        with pytest.raises(ValueError, match="cursor"):
            TimelineKey.decode(forged)


def test_last_event_id() -> None:
    assert parse_last_event_id(None) is None
    assert parse_last_event_id(" 42 ") == 42
    for bad in ("abc", "-1", "²", str(2**63)):
        with pytest.raises(ValueError, match="Last-Event-ID"):
            parse_last_event_id(bad)
