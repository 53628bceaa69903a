"""The case commands: handover, participants, status, close, notes, outbound contacts."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from services.router.commands.context import CommandContext, Rejected
from shared.contracts import (
    OPEN_STATUSES,
    CaseClassified,
    CaseClosed,
    CaseHandedOver,
    CaseStatus,
    CaseStatusChanged,
    NoteAdded,
    OutboundContactRegistered,
    ParticipantAdded,
    ParticipantRemoved,
)
from shared.contracts import commands as c
from shared.ids import new_id

HANDOVERS = Counter("eenloket_router_handovers_total", "Case handovers", ["from_team", "to_team"])
HANDOVERS_AT_CLOSE = Histogram(
    "eenloket_router_handovers_per_case",
    "Handovers a case had when it was closed (the 'pillar to post' count)",
    buckets=(0, 1, 2, 3, 5, 8, 13),
)


async def hand_over(cmd: c.HandOverCase, x: CommandContext) -> None:
    case = await x.open_case(cmd.case_id)
    to_team = x.team(cmd.to_team)
    if cmd.from_team != case.owner_team:
        raise Rejected(f"case is owned by '{case.owner_team}', not '{cmd.from_team}'")
    if to_team == case.owner_team:
        raise Rejected(f"case is already owned by '{to_team}'")
    if not cmd.reason.strip():
        raise Rejected("a handover needs a reason")
    count = case.handover_count + 1
    await x.store.update_case(
        case.id, owner_team=to_team, handover_count=count, last_activity_at=x.now
    )
    HANDOVERS.labels(case.owner_team, to_team).inc()
    await x.record_on_case(
        case,
        CaseHandedOver(
            case_id=case.id,
            case_number=case.number,
            party_id=case.party_id,
            from_team=case.owner_team,
            to_team=to_team,
            by=cmd.by,
            reason=cmd.reason,
            handover_count=count,
            at=x.now,
        ),
    )
    if to_team in x.routing.spec.confidential_teams and not case.confidential:
        await x.store.classify_cases({case.id: (case.product, True)})
        await x.record_on_case(
            case,
            CaseClassified(
                case_id=case.id,
                party_id=case.party_id,
                product=case.product,
                confidential=True,
                at=x.now,
            ),
        )


async def add_participant(cmd: c.AddParticipant, x: CommandContext) -> None:
    case = await x.open_case(cmd.case_id)
    team = x.team(cmd.team)
    if team == case.owner_team:
        raise Rejected(f"'{team}' owns the case; owners are not also participants")
    if team in await x.store.participants(case.id):
        raise Rejected(f"'{team}' already participates")
    await x.store.add_participant(case.id, team)
    await x.record_on_case(
        case,
        ParticipantAdded(
            case_id=case.id,
            party_id=case.party_id,
            team=team,
            by=cmd.by,
            reason=cmd.reason,
            at=x.now,
        ),
    )


async def remove_participant(cmd: c.RemoveParticipant, x: CommandContext) -> None:
    case = await x.case(cmd.case_id)
    if cmd.team not in await x.store.participants(case.id):
        raise Rejected(f"'{cmd.team}' does not participate in this case")
    await x.store.remove_participant(case.id, cmd.team)
    await x.record_on_case(
        case,
        ParticipantRemoved(
            case_id=case.id,
            party_id=case.party_id,
            team=cmd.team,
            by=cmd.by,
            reason=cmd.reason,
            at=x.now,
        ),
    )


async def change_status(cmd: c.ChangeStatus, x: CommandContext) -> None:
    case = await x.open_case(cmd.case_id)
    if cmd.status not in OPEN_STATUSES:
        raise Rejected(
            f"status must be one of {', '.join(OPEN_STATUSES)} (close a case with its result)"
        )
    if cmd.status == case.status:
        raise Rejected(f"case already has status '{cmd.status}'")
    await x.store.update_case(case.id, status=cmd.status, last_activity_at=x.now)
    await x.record_on_case(
        case,
        CaseStatusChanged(
            case_id=case.id,
            party_id=case.party_id,
            from_status=case.status,
            to_status=cmd.status,
            by=cmd.by,
            at=x.now,
        ),
    )


async def close(cmd: c.CloseCase, x: CommandContext) -> None:
    case = await x.open_case(cmd.case_id)
    await x.store.update_case(
        case.id,
        status=CaseStatus.CLOSED.value,
        result=cmd.result,
        closed_at=x.now,
        last_activity_at=x.now,
    )
    HANDOVERS_AT_CLOSE.observe(case.handover_count)
    await x.record_on_case(
        case,
        CaseClosed(case_id=case.id, party_id=case.party_id, result=cmd.result, by=cmd.by, at=x.now),
    )


async def add_note(cmd: c.AddNote, x: CommandContext) -> None:
    case = await x.case(cmd.case_id)  # notes on closed cases are allowed: the history goes on
    await x.store.update_case(case.id, last_activity_at=x.now)
    await x.record_on_case(
        case,
        NoteAdded(
            note_id=new_id(),
            case_id=case.id,
            party_id=case.party_id,
            text=cmd.text,
            by=cmd.by,
            at=x.now,
        ),
    )


async def register_outbound(cmd: c.RegisterOutboundContact, x: CommandContext) -> None:
    case = await x.case(cmd.case_id)
    await x.store.update_case(case.id, last_activity_at=x.now)
    await x.record_on_case(
        case,
        OutboundContactRegistered(
            contact_id=new_id(),
            case_id=case.id,
            party_id=case.party_id,
            channel=cmd.channel,
            summary=cmd.summary,
            by=cmd.by,
            at=x.now,
        ),
    )
