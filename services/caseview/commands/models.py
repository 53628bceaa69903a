"""The staff commands' request bodies and the 202 answer.

The command models refuse text PostgreSQL cannot store and over-long fields (the same
field types the router validates the commands with), so a refusal is a 422 here, at once.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import Header
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.caseview.web import responses
from shared.contracts import Channel
from shared.contracts import commands as cmd
from shared.contracts.text import TEAM_MAX, LongText, OptionalReason, Reason, storable

TEAM_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
# TeamId with the routing file's form (spelled out: a pattern added around TeamId's
# validator would be checked but missing from the OpenAPI document).
TeamField = Annotated[
    str,
    Field(min_length=1, max_length=TEAM_MAX, pattern=TEAM_PATTERN, description="A team id"),
    AfterValidator(storable),
]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HandOverRequest(_Body):
    to_team: TeamField
    reason: Reason


class ParticipantRequest(_Body):
    team: TeamField
    reason: OptionalReason | None = None


class StatusRequest(_Body):
    status: cmd.OpenStatus = Field(
        description="To close a case use POST /cases/{case_id}/close (it needs a result)."
    )


class CloseRequest(_Body):
    result: Reason


class NoteRequest(_Body):
    text: LongText


class OutboundContactRequest(_Body):
    channel: Channel
    summary: LongText


class LinkDecisionRequest(_Body):
    confirm: bool = Field(description="true: the same person (merge follows); false: not")
    verify_address: bool = Field(
        default=False,
        description="With confirm: the claimed address (e-mail, phone, chat) belongs to this "
        "party, so later messages from it link automatically. Not for shared addresses.",
    )
    reason: OptionalReason | None = None


class MergeRequest(_Body):
    merged_party_id: uuid.UUID = Field(description="The party that is the same person")
    reason: Reason


class UnmergeRequest(_Body):
    reason: Reason


class CommandAccepted(BaseModel):
    model_config = ConfigDict(frozen=True)

    command_id: uuid.UUID = Field(
        description="The CloudEvent id on omni.commands.v1. What became of it: GET the "
        "Location (/v1/commands/{command_id}); the outcome also arrives as an event on the "
        "history (and its live stream), a refusal as nl.eenloket.command.rejected."
    )
    type: str
    status: Literal["accepted"] = "accepted"


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Send the same key again and it is the same command (same command id).",
    ),
]
COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Accepted: Kafka acknowledged the command. Its status is at the Location.",
        "headers": {
            "Location": {
                "description": "/v1/commands/{command_id}: accepted, applied or rejected",
                "schema": {"type": "string"},
            }
        },
    },
    **responses(404, 409, 503),
}
