"""Residents' tokens (who, how surely) and the access log as Logboek Dataverwerkingen spans."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from pydantic import SecretStr, ValidationError

from services.caseview.access_log.ldv import RESIDENT_PURPOSE, LdvEmitter
from services.caseview.access_log.record import Access
from services.caseview.auth import NotAResidentError, resident
from services.caseview.config import CaseviewSettings

PORTAL = ["mijn-zaken"]


def token_claims(**extra: Any) -> dict[str, Any]:
    return {"sub": f"u-{uuid.uuid4().hex[:6]}", "azp": "mijn-zaken", **extra}


def test_a_resident_is_the_portals_token_with_a_number_and_a_level() -> None:
    found = resident(
        token_claims(bsn="999993653", loa="http://eidas.europa.eu/LoA/substantial"), PORTAL
    )
    assert (found.kind, found.number, found.loa) == ("bsn", "999993653", "substantial")
    assert found.at_least("low") and found.at_least("substantial")
    assert not found.at_least("high")
    company = resident(token_claims(kvk="90001354", loa="high"), PORTAL)
    assert (company.kind, company.loa) == ("kvk", "high")
    assert company.as_principal().roles == {"resident"}


@pytest.mark.parametrize(
    "claims",
    [
        {"bsn": "999993653", "loa": "substantial", "azp": "console"},  # another client
        {"bsn": "999993653", "loa": "substantial", "azp": None},
        {"loa": "substantial"},  # no number
        {"bsn": "12345", "loa": "substantial"},  # not a BSN
        {"bsn": "999993653"},  # no level
        {"bsn": "999993653", "loa": "http://eidas.europa.eu/LoA/excellent"},
    ],
)
def test_anything_else_is_not_a_resident(claims: dict[str, Any]) -> None:
    with pytest.raises(NotAResidentError):
        resident(token_claims(**claims), PORTAL)


def test_ldv_needs_a_key() -> None:
    with pytest.raises(ValidationError):
        CaseviewSettings(environment="test", ldv_enabled=True)


def test_each_access_is_a_processing_action_with_the_subject_hashed() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    key = uuid.uuid4().hex
    settings = CaseviewSettings(
        environment="test", ldv_enabled=True, ldv_subject_key=SecretStr(key)
    )
    ldv = LdvEmitter(settings, provider)
    party, case = uuid.uuid4(), uuid.uuid4()
    at = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)

    ldv.emit(
        [
            Access("GET /v1/cases/{case_id}", party_id=party, case_id=case),
            Access("GET /v1/cases/{case_id}", case_id=uuid.uuid4(), outcome="not-found"),
        ],
        purpose="Terugbelverzoek",
        at=at,
    )
    ldv.emit([Access("GET /v1/me/cases", party_id=party)], purpose=RESIDENT_PURPOSE, at=at)

    ok, missing, own = exporter.get_finished_spans()
    expected = hmac.new(key.encode(), str(party).encode(), hashlib.sha256).hexdigest()
    assert ok.name == "GET /v1/cases/{case_id}"
    assert ok.attributes is not None
    assert ok.attributes["dpl.core.processing_activity_id"] == "eenloket-inzage-medewerker"
    assert ok.attributes["dpl.core.data_subject_id"] == expected
    assert ok.attributes["dpl.core.data_subject_id_type"] == "eenloket-party-hmac"
    assert str(party) not in str(dict(ok.attributes))  # never the id itself
    assert ok.status.status_code is StatusCode.OK
    assert ok.start_time == ok.end_time == int(at.timestamp() * 1e9)
    assert missing.status.status_code is StatusCode.ERROR
    assert missing.attributes is not None
    assert "dpl.core.data_subject_id" not in missing.attributes
    assert own.attributes is not None
    assert own.attributes["dpl.core.processing_activity_id"] == "eenloket-inzage-betrokkene"
    assert own.context is not None and own.context.trace_id != 0
