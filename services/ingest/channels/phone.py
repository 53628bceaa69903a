"""Phone (telefonie): a call record from the telephony platform, with the agent's notes.

The caller's number is what the network presented: ``claimed``, normalised to
E.164 (Dutch numbers may be written nationally). Anonymous callers have no
number. A call-back names the earlier call, which joins both on one thread.

When the platform marks the number as network-verified (``caller_id_verified``)
and its key may assert that, the number carries ``network-caller-id`` evidence; it
stays ``claimed``: which rung that is worth is the router's decision.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.ingest.channels.common import (
    CaseNumber,
    ExternalId,
    FreeText,
    Language,
    Phone,
    SingleLine,
    Timestamp,
    clean,
)
from shared.contracts import Channel, Evidence, IdentifierKind, InboundMessage
from shared.identifiers import sender_identifiers


class CallRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    call_id: ExternalId = Field(description="The platform's call id; re-sending it is safe.")
    caller_number: Phone | None = Field(
        default=None, description="The presented number; null for an anonymous caller."
    )
    caller_id_verified: bool = Field(
        default=False,
        description="The telephony platform marks the presented number as network-verified. "
        "Accepted only from an integration key that may assert caller ID.",
    )
    called_line: SingleLine = Field(
        min_length=1, max_length=64, description="The municipal line called, e.g. '14 020'."
    )
    started_at: Timestamp
    ended_at: Timestamp
    caller_name: SingleLine | None = Field(default=None, max_length=200)
    subject: SingleLine | None = Field(default=None, max_length=300)
    agent_notes: FreeText = Field(default="", max_length=20_000)
    transcript: FreeText | None = Field(default=None, max_length=100_000)
    callback_of: ExternalId | None = Field(
        default=None, description="The call_id of the earlier call this call returns."
    )
    product: SingleLine | None = Field(default=None, max_length=200)
    case_number: CaseNumber | None = None
    language: Language = "nl"

    @model_validator(mode="after")
    def _ends_after_start(self) -> CallRecord:
        if self.ended_at < self.started_at:
            raise ValueError("'ended_at' lies before 'started_at'")
        return self


def to_message(
    call: CallRecord, *, message_id: uuid.UUID, caller_id_vouched: bool = False
) -> InboundMessage:
    """``caller_id_vouched``: the platform's key may assert caller ID (else the route has
    answered 403 to a record that does)."""
    verified = caller_id_vouched and call.caller_id_verified
    sender = sender_identifiers(
        [(IdentifierKind.PHONE, call.caller_number)],
        {IdentifierKind.PHONE: Evidence.NETWORK_CALLER_ID} if verified else {},
    )
    parts = [call.agent_notes.strip()]
    if call.transcript and call.transcript.strip():
        parts.append("Transcript:\n" + call.transcript.strip())
    refs = [f"phone:{call.call_id}"]
    if call.callback_of and call.callback_of != call.call_id:
        refs.append(f"phone:{call.callback_of}")
    return InboundMessage(
        message_id=message_id,
        channel=Channel.PHONE,
        received_at=call.started_at,
        sender=sender,
        display_name=clean(call.caller_name),
        subject=clean(call.subject),
        text="\n\n".join(p for p in parts if p),
        language=call.language,
        thread_refs=refs,
        case_number_hint=call.case_number,
        product_hint=clean(call.product),
        channel_message_id=call.call_id,
    )
