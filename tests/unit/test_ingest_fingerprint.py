"""The content an idempotency key binds: the validated request, canonically."""

from __future__ import annotations

import json

from pydantic import TypeAdapter

from services.ingest.channels.chat import ChatEvent
from services.ingest.channels.counter import CounterVisit
from services.ingest.submissions import fingerprint

VISIT = {"visit_id": "v-1", "visited_at": "2026-04-06T09:30:00+02:00", "topic": "Rijbewijs"}


def visit(raw: str) -> CounterVisit:
    return CounterVisit.model_validate_json(raw)


def test_key_order_whitespace_and_explicit_defaults_are_the_same_content():
    plain = visit(json.dumps(VISIT))
    reordered = visit(json.dumps(dict(reversed(list(VISIT.items()))), indent=4))
    defaults = visit(
        json.dumps(VISIT | {"identity": {"checked": "none"}, "attachments": [], "language": "nl"})
    )
    assert fingerprint(plain) == fingerprint(reordered) == fingerprint(defaults)


def test_any_other_value_is_other_content():
    plain = fingerprint(visit(json.dumps(VISIT)))
    assert fingerprint(visit(json.dumps(VISIT | {"notes": "Foto afgekeurd."}))) != plain
    # The same moment written with another offset is another request as sent.
    utc = VISIT | {"visited_at": "2026-04-06T07:30:00Z"}
    assert fingerprint(visit(json.dumps(utc))) != plain


def test_the_discriminated_chat_event_keeps_its_type():
    event = {"event_id": "e-1", "session_id": "S", "occurred_at": "2026-04-06T09:30:00Z"}
    adapter: TypeAdapter[ChatEvent] = TypeAdapter(ChatEvent)
    started = adapter.validate_python(event | {"type": "session.started"})
    ended = adapter.validate_python(event | {"type": "session.ended"})
    assert fingerprint(started) != fingerprint(ended)
