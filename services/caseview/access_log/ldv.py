"""The access log as Logius' *Logboek Dataverwerkingen* (LDV): every access-log entry also as
an OpenTelemetry span, a "processing action", for a municipality's LDV logbook to receive
(through the OTLP exporter the services already use). On when ``EENLOKET_LDV_ENABLED``.

Mapping (docs/resident.md, "Logboek Dataverwerkingen"): span name = the route template;
``dpl.core.processing_activity_id`` = the configured activity (staff reads, or residents'
own "inzage door betrokkene"); ``dpl.core.data_subject_id`` = HMAC-SHA256 of the party id
under ``EENLOKET_LDV_SUBJECT_KEY`` (hex), ``dpl.core.data_subject_id_type`` =
``eenloket-party-hmac``; status OK for a read that showed data, ERROR (with the outcome) for
``not-found`` and ``denied``; start and end = the moment the entry was written. The span's
own trace and span ids are the processing action's; its parent is the request's span.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode, TracerProvider

from services.caseview.config import CaseviewSettings

if TYPE_CHECKING:
    from services.caseview.access_log.record import Access

SUBJECT_ID_TYPE = "eenloket-party-hmac"
RESIDENT_PURPOSE = "inzage door betrokkene"


class LdvEmitter:
    def __init__(self, settings: CaseviewSettings, provider: TracerProvider | None = None) -> None:
        key = settings.ldv_subject_key
        assert key is not None  # the settings refuse LDV without a key
        self._key = key.get_secret_value().encode()
        self._staff_activity = settings.ldv_processing_activity_id
        self._resident_activity = settings.ldv_resident_processing_activity_id
        self._tracer = (provider or trace.get_tracer_provider()).get_tracer("eenloket.ldv")

    def subject_id(self, party_id: uuid.UUID) -> str:
        return hmac.new(self._key, str(party_id).encode(), hashlib.sha256).hexdigest()

    def emit(self, accesses: Sequence[Access], *, purpose: str | None, at: datetime) -> None:
        activity = self._resident_activity if purpose == RESIDENT_PURPOSE else self._staff_activity
        moment = int(at.timestamp() * 1_000_000_000)
        for a in accesses:
            span = self._tracer.start_span(a.endpoint, start_time=moment)
            span.set_attribute("dpl.core.processing_activity_id", activity)
            if a.party_id is not None:
                span.set_attribute("dpl.core.data_subject_id", self.subject_id(a.party_id))
                span.set_attribute("dpl.core.data_subject_id_type", SUBJECT_ID_TYPE)
            if purpose:
                span.set_attribute("eenloket.purpose", purpose)
            span.set_attribute("eenloket.outcome", a.outcome)
            if a.outcome == "ok":
                span.set_status(Status(StatusCode.OK))
            else:
                span.set_status(Status(StatusCode.ERROR, a.outcome))
            span.end(end_time=moment)


def emitter(state: object, settings: CaseviewSettings) -> LdvEmitter | None:
    """The app's emitter (``app.state.ldv``), made on first use; None when LDV is off. A test
    may put its own there (with an in-memory exporter)."""
    if not settings.ldv_enabled:
        return None
    found = getattr(state, "ldv", None)
    if found is None:
        found = LdvEmitter(settings)
        setattr(state, "ldv", found)  # noqa: B010 - Starlette's State takes any attribute
    assert isinstance(found, LdvEmitter)
    return found
