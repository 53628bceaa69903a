"""The timeline events of a routed message, as JSON dicts made without the contract models
(a measurable share of the router's CPU; unit tests hold each equal to its model's
``model_dump(mode="json")``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.router.domain.model import Case, Party
from shared.contracts import Event, InboundMessage


@dataclass(frozen=True)
class PendingEvent:
    """An event to record on ``party``'s timeline (its ``sequence`` is given on recording)."""

    party: Party
    type: str
    data: dict[str, Any]
    aggregate: str = "party"

    @classmethod
    def of(cls, party: Party, payload: Event, aggregate: str = "party") -> PendingEvent:
        return cls(party, payload.TYPE, payload.model_dump(mode="json"), aggregate)


def _iso(moment: datetime) -> str:
    """A datetime as pydantic writes it in JSON mode (``Z`` for UTC, other offsets kept)."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def case_opened_json(case: Case, number: str, due_at: datetime | None) -> dict[str, Any]:
    """``CaseOpened(...).model_dump(mode="json")`` without the model."""
    return {
        "case_id": str(case.id),
        "case_number": number,
        "party_id": str(case.party_id),
        "product": case.product,
        "confidential": case.confidential,
        "owner_team": case.owner_team,
        "status": case.status,
        "opened_at": _iso(case.opened_at),
        "due_at": None if due_at is None else _iso(due_at),
    }


def case_classified_json(case: Case, message: InboundMessage) -> dict[str, Any]:
    """``CaseClassified(...).model_dump(mode="json")`` without the model."""
    return {
        "case_id": str(case.id),
        "party_id": str(case.party_id),
        "product": case.product,
        "confidential": case.confidential,
        "message_id": str(message.message_id),
        "at": _iso(message.received_at),
    }


def message_routed_json(
    message: InboundMessage,
    *,
    party_id: uuid.UUID,
    case: Case,
    number: str,
    explanation: dict[str, Any],
    flags: tuple[tuple[str, str], ...],
) -> dict[str, Any]:
    """``MessageRouted(...).model_dump(mode="json")`` without the model (the router makes one
    for every message; the inbound message was validated, the rest is the router's own)."""
    return {
        "message_id": str(message.message_id),
        "party_id": str(party_id),
        "case_id": str(case.id),
        "case_number": number,
        "channel": message.channel.value,
        "received_at": _iso(message.received_at),
        "display_name": message.display_name,
        "subject": message.subject,
        "text": message.text,
        "attachments": [a.model_dump(mode="json") for a in message.attachments],
        "owner_team": case.owner_team,
        "explanation": explanation,
        "flags": [{"kind": k, "detail": d} for k, d in flags],
    }
