"""Base type for events and commands: frozen pydantic models with a CloudEvents type."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from shared.envelope import CloudEvent, envelope_json

EVENT_TYPES: dict[str, type[Event]] = {}


class Event(BaseModel):
    """An immutable fact (past tense) or intention (imperative) that crosses a process boundary.

    Consumers are tolerant readers (fields they do not know are ignored), so adding an
    optional field is compatible; removing or changing one is a new type (design §3).

    Subclasses set ``TYPE`` (reverse-DNS, e.g. ``nl.eenloket.message.received``) and
    are registered so a consumer can turn a CloudEvent back into its model.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    TYPE: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        type_name = cls.__dict__.get("TYPE")
        if type_name is not None:
            if type_name in EVENT_TYPES:
                raise TypeError(f"duplicate event type {type_name}")
            EVENT_TYPES[type_name] = cls

    @classmethod
    def from_cloudevent(cls, event: CloudEvent) -> Event:
        model = EVENT_TYPES.get(event.type)
        if model is None:
            raise ValueError(f"unknown event type {event.type}")
        return model.model_validate(event.data)


def to_cloudevent(
    payload: Event,
    *,
    source: str,
    subject: uuid.UUID,
    event_id: uuid.UUID | None = None,
    time: datetime | None = None,
    sequence: int | None = None,
) -> CloudEvent:
    """Wrap a contract model in its envelope, validated. ``subject`` is always an opaque id.
    The JSON is ``envelope_json``'s, the one way an envelope is written; hot paths that
    need no validated model call that directly."""
    return CloudEvent.model_validate(
        envelope_json(
            source=source,
            type=payload.TYPE,
            subject=str(subject),
            data=payload.model_dump(mode="json"),
            event_id=event_id,
            time=time,
            sequence=sequence,
        )
    )
