"""The party timeline's page written straight to JSON (orjson, timeline/queries.py:page_json)
is what the pydantic models write for the same rows: same bytes, same document."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from asyncpg.pgproto import pgproto

from services.caseview.paging import Count
from services.caseview.timeline.models import TimelineEntry, TimelinePage
from services.caseview.timeline.queries import entry_fields, page_fields, page_json
from services.caseview.viewer import CaseAccess, Viewer

AT = datetime(2026, 12, 5, 11, 0, 0, tzinfo=UTC)


def row(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event_id": pgproto.UUID(str(uuid.uuid4())),  # as asyncpg returns them
        "type": "nl.eenloket.message.routed",
        "party_id": uuid.uuid4(),
        "sequence": 7,
        "occurred_at": AT,
        "recorded_at": AT + timedelta(microseconds=123456),
        "case_id": None,
        "message_id": uuid.uuid4(),
        "channel": "email",
        "body": {"subject": "Vraag över €", "text": 'Wanneer?\n"quoted"', "n": [1, 2.5, None]},
    }
    return {**fields, **changes}  # as a row's ``_mapping`` answers


def test_page_json_is_what_the_models_write() -> None:
    viewer = Viewer(teams=frozenset({"burgerzaken"}), confidential_terms=("jeugdzorg",))
    secret = CaseAccess(uuid.uuid4(), "ZAAK-2026-0000000001", "jeugdzorg", False, "jeugd")
    open_case = CaseAccess(uuid.uuid4(), "ZAAK-2026-0000000002", "paspoort", False, "burgerzaken")
    rows = [
        (row(), None),
        (row(case_id=open_case.id, recorded_at=None), open_case),
        (row(case_id=secret.id, recorded_at=AT + timedelta(hours=2)), secret),  # redacted
        (row(occurred_at=AT.replace(microsecond=5), channel=None, message_id=None), None),
    ]
    items = [entry_fields(viewer, r, case) for r, case in rows]
    party = uuid.uuid4()
    for cursor, total in (
        (None, Count(value=4, capped=False)),
        ("abc", Count(value=9, capped=True)),
    ):
        model = TimelinePage(
            party_id=party,
            items=[TimelineEntry(**f) for f in items],
            next_cursor=cursor,
            total=total,
        )
        written = page_json(party, items, cursor, total)
        assert written == model.model_dump_json().encode()
        assert orjson.loads(written) == model.model_dump(mode="json")
    assert items[2]["redacted"] and items[2]["data"] == {
        "case_number": "ZAAK-2026-0000000001",
        "owner_team": "jeugd",
    }
    assert items[2]["imported"] and not items[0]["imported"]


def _as_read(r: dict[str, Any], body_json: str) -> dict[str, Any]:
    """The row as the page statements read it: the body only as its JSON text."""
    return {**r, "body": None, "body_json": body_json}


def _as_postgres_writes_it(body: dict[str, Any]) -> str:
    """``jsonb`` as PostgreSQL's text output has it: a space after every ``:`` and ``,``."""
    return json.dumps(body, ensure_ascii=False)


def test_a_page_with_the_bodies_json_text_is_the_same_document() -> None:
    """The pages read from the database carry each body's JSON text as it is (``page_fields``,
    no decoding and encoding again): same document as the models', need-to-know still
    applied (a redacted entry carries no trace of its body)."""
    viewer = Viewer(teams=frozenset({"burgerzaken"}), confidential_terms=("jeugdzorg",))
    secret = CaseAccess(uuid.uuid4(), "ZAAK-2026-0000000001", "jeugdzorg", False, "jeugd")
    rows = [(row(), None), (row(case_id=secret.id), secret)]
    party = uuid.uuid4()
    as_read = [(_as_read(r, _as_postgres_writes_it(r["body"])), c) for r, c in rows]
    written = page_json(
        party, [page_fields(viewer, r, c) for r, c in as_read], None, Count(value=2, capped=False)
    )
    model = TimelinePage(
        party_id=party,
        items=[TimelineEntry(**entry_fields(viewer, r, c)) for r, c in rows],
        next_cursor=None,
        total=Count(value=2, capped=False),
    )
    assert orjson.loads(written) == model.model_dump(mode="json")
    assert b"Wanneer" in written and written.count(b"Wanneer") == 1  # the redacted one's not
    # Compact JSON text (as SQLite keeps what SQLAlchemy wrote) gives the very same bytes.
    compact = [(_as_read(r, orjson.dumps(r["body"]).decode()), c) for r, c in rows]
    assert (
        page_json(
            party,
            [page_fields(viewer, r, c) for r, c in compact],
            None,
            Count(value=2, capped=False),
        )
        == model.model_dump_json().encode()
    )
