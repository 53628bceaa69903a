"""The case view and the team queue written straight to JSON (cases/queries.py: ``view_json``,
``queue_json``) are what the pydantic models write for the same fields: same bytes, same
document (as tests/unit/test_caseview_timeline_json.py for the timeline page)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import orjson
from asyncpg.pgproto import pgproto

from services.caseview.cases.models import CaseView, QueueItem, QueuePage, QueueSort
from services.caseview.cases.queries import (
    _contact,
    _queue_item,
    _summary,
    _team_list,
    queue_json,
    view_json,
)
from services.caseview.paging import Count
from services.caseview.viewer import Viewer
from shared.contracts import MessageRouted, OutboundContactRegistered

AT = datetime(2026, 12, 5, 11, 0, 0, 123456, tzinfo=UTC)
VIEWER = Viewer(teams=frozenset({"burgerzaken"}), confidential_terms=("jeugdzorg",))


def case_row(**changes: Any) -> Any:
    fields: dict[str, Any] = {
        "id": pgproto.UUID(str(uuid.uuid4())),  # as asyncpg returns them
        "number": "ZAAK-2026-0000000001",
        "party_id": uuid.uuid4(),
        "product": "paspoort",
        "confidential": False,
        "status": "open",
        "is_open": True,
        "owner_team": "burgerzaken",
        "opened_at": AT,
        "due_at": AT - timedelta(days=1),
        "queue_due": AT - timedelta(days=1),
        "closed_at": None,
        "result": None,
        "handover_count": 1,
        "last_activity_at": AT.replace(microsecond=0),
        "case_teams": "kcc,burgerzaken",
        "subject": "Vraag över €",
        "first_channel": "email",
        "resident": "Fatima el Amrani",
    }
    return SimpleNamespace(**{**fields, **changes})


def contact_row(type_: str, **body: Any) -> Any:
    return SimpleNamespace(
        contact_event_id=uuid.uuid4(),
        contact_type=type_,
        contact_channel="email",
        contact_occurred_at=AT,
        contact_message_id=uuid.uuid4(),
        contact_body=body,
    )


def test_view_json_is_what_the_model_writes() -> None:
    redacted = case_row(product="Jeugdzorg", owner_team="jeugd", case_teams="kcc")
    for row in (case_row(), redacted):
        summary = _summary(VIEWER, row, _team_list(row.case_teams), AT)
        visible = not summary["redacted"]
        contacts = [
            contact_row(MessageRouted.TYPE, subject="Vraag", text='Wanneer?\n"x"', flags=[{}]),
            contact_row(OutboundContactRegistered.TYPE, summary="Gebeld", n=[1, 2.5, None]),
        ]
        handovers = [
            {
                "from_team": "kcc",
                "to_team": "burgerzaken",
                "by": "u-1",
                "by_team": None,
                "reason": "Hoort bij burgerzaken",
                "at": AT,
                "handover_count": 1,
            }
        ]
        explanations = [
            {"message_id": uuid.uuid4(), "at": AT, "explanation": {"rule": "x"}, "flags": []}
        ]
        fields = [_contact(r, visible) for r in contacts]
        total = Count(value=2, capped=False)
        model = CaseView(
            **summary,
            handovers=handovers,
            routing_explanations=explanations,
            contacts=fields,
            contacts_total=total,
        )
        written = view_json(summary, handovers, explanations, fields, total)
        assert written == model.model_dump_json().encode()
        assert orjson.loads(written) == model.model_dump(mode="json")
    assert summary["redacted"] and summary["product"] is None
    assert fields[0]["subject"] is None and fields[0]["text"] is None


def test_queue_json_is_what_the_model_writes() -> None:
    rows = [
        case_row(),
        case_row(owner_team="kcc", case_teams=None, due_at=None, resident=None),  # participant
        case_row(product="jeugdzorg", owner_team="jeugd", case_teams="kcc"),  # redacted
    ]
    items = [_queue_item(VIEWER, r, "burgerzaken", AT) for r in rows]
    for sort, cursor, total in (
        (QueueSort.AGE, None, Count(value=3, capped=False)),
        (QueueSort.DUE, "abc", Count(value=1000, capped=True)),
    ):
        model = QueuePage(
            team="burgerzaken",
            sort=sort,
            items=[QueueItem(**i) for i in items],
            next_cursor=cursor,
            total=total,
        )
        written = queue_json("burgerzaken", sort, items, cursor, total)
        assert written == model.model_dump_json().encode()
        assert orjson.loads(written) == model.model_dump(mode="json")
    assert [i["role"] for i in items] == ["owner", "participant", "participant"]
    assert items[0]["participants"] == ["burgerzaken", "kcc"] and items[0]["overdue"]
    assert items[2]["redacted"] and items[2]["subject"] is None and items[2]["product"] is None
