"""Staff commands from ``omni.commands.v1``: the router is the single writer of case and party
state, so it carries each out as timeline events, or answers ``command.rejected`` with a
reason a person can act on. An invalid command never crashes the consumer."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain.model import CLOSED, OPEN_STATUSES, Case
from services.router.domain.trust import ADDRESS_KINDS, STAFF_CONFIRMED
from services.router.handlers import RouterContext
from services.router.history import History
from services.router.repository import Repository
from shared.contracts import (
    Actor,
    CaseClassified,
    CaseClosed,
    CaseHandedOver,
    CaseMerged,
    CaseStatusChanged,
    CaseUnfolded,
    CommandRejected,
    Event,
    IdentifierKind,
    LinkDecided,
    NoteAdded,
    OutboundContactRegistered,
    ParticipantAdded,
    ParticipantRemoved,
    PartyIdentifier,
    PartyIdentifierAdded,
    PartyIdentifierRevoked,
    PartyMerged,
    PartyUnmerged,
    Trust,
)
from shared.contracts import commands as c
from shared.contracts.text import scrubbed
from shared.envelope import CloudEvent
from shared.ids import new_id

HANDOVERS = Counter("eenloket_router_handovers_total", "Case handovers", ["from_team", "to_team"])
HANDOVERS_AT_CLOSE = Histogram(
    "eenloket_router_handovers_per_case",
    "Handovers a case had when it was closed (the 'pillar to post' count)",
    buckets=(0, 1, 2, 3, 5, 8, 13),
)
REJECTED = Counter("eenloket_router_commands_rejected_total", "Commands rejected", ["command"])


class Rejected(Exception):  # noqa: N818 - a domain outcome, not an error of the program
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CommandContext:
    def __init__(
        self, session: AsyncSession, ctx: RouterContext, event: CloudEvent, history: History
    ) -> None:
        self.repo = Repository(session)
        self.routing = ctx.routing
        self.history = history
        self.command_id = event.id
        self.now = datetime.now(UTC)

    def team(self, team: str) -> str:
        if team not in self.routing.teams:
            raise Rejected(f"team '{team}' does not exist")
        return team

    async def open_case(self, case_id: uuid.UUID) -> Case:
        case = await self.case(case_id)
        if case.status == CLOSED:
            raise Rejected(f"case {case.number} is closed")
        return case

    async def case(self, case_id: uuid.UUID) -> Case:
        case = await self.repo.case(case_id, lock=True)
        if case is None:
            raise Rejected("unknown case")
        return case

    async def record_on_case(self, case: Case, payload: Event) -> None:
        party = await self.repo.lock_party(case.party_id)
        self.history.record(party, payload, aggregate="case")


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
    await x.repo.update_case(
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
        await x.repo.classify_cases({case.id: (case.product, True)})
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
    if team in await x.repo.participants(case.id):
        raise Rejected(f"'{team}' already participates")
    await x.repo.add_participant(case.id, team)
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
    if cmd.team not in await x.repo.participants(case.id):
        raise Rejected(f"'{cmd.team}' does not participate in this case")
    await x.repo.remove_participant(case.id, cmd.team)
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
    await x.repo.update_case(case.id, status=cmd.status, last_activity_at=x.now)
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
    await x.repo.update_case(
        case.id, status=CLOSED, result=cmd.result, closed_at=x.now, last_activity_at=x.now
    )
    HANDOVERS_AT_CLOSE.observe(case.handover_count)
    await x.record_on_case(
        case,
        CaseClosed(case_id=case.id, party_id=case.party_id, result=cmd.result, by=cmd.by, at=x.now),
    )


async def add_note(cmd: c.AddNote, x: CommandContext) -> None:
    case = await x.case(cmd.case_id)  # notes on closed cases are allowed: the history goes on
    await x.repo.update_case(case.id, last_activity_at=x.now)
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
    await x.repo.update_case(case.id, last_activity_at=x.now)
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


async def decide_link(cmd: c.DecideLink, x: CommandContext) -> None:
    row = await x.repo.suggestion(cmd.suggestion_id)
    if row is None:
        raise Rejected("unknown suggestion")
    if row.status != "pending":
        raise Rejected(f"suggestion was already {row.status}")
    await x.repo.decide_suggestion(row.id, confirmed=cmd.confirm, by=cmd.by.user, now=x.now)
    party = await x.repo.lock_party(row.party_id)
    x.history.record(
        party,
        LinkDecided(
            suggestion_id=row.id,
            party_id=row.party_id,
            suggested_party_id=row.suggested_party_id,
            confirmed=cmd.confirm,
            by=cmd.by,
            reason=cmd.reason,
            at=x.now,
        ),
    )
    if cmd.confirm:
        # The established party survives: a provisional party merges into a known one.
        a, b = row.suggested_party_id, row.party_id
        if await x.repo.is_provisional(a) and not await x.repo.is_provisional(b):
            a, b = b, a
        merge_id = await _merge(
            x, survivor=a, merged=b, by=cmd.by, reason=cmd.reason or "suggested link confirmed"
        )
        if cmd.verify_address:
            await _verify_address(x, survivor=a, merged=b, merge_id=merge_id)


async def _verify_address(
    x: CommandContext, *, survivor: uuid.UUID, merged: uuid.UUID, merge_id: uuid.UUID
) -> None:
    """The municipality confirms the merged party's claimed addresses belong to the survivor."""
    addresses = [
        h
        for h in await x.repo.identifiers_of(merged)
        if h.kind in ADDRESS_KINDS and h.trust == Trust.CLAIMED
    ]
    if not addresses:
        raise Rejected("there is no claimed e-mail address, phone number or chat handle to verify")
    party = await x.repo.lock_party(survivor)
    for h in addresses:
        if await x.repo.strongly_held_elsewhere(h.kind, h.value, survivor):
            raise Rejected(f"that {h.kind.value} is already verified for another party")
        row_id = await x.repo.verify_identifier(survivor, h.kind, h.value, x.now)
        # Undoing the merge takes the verification back (the decision that made it).
        await x.repo.record_merge_effects(
            merge_id, [{"kind": "verified", "key": str(row_id)}], case_id=None
        )
        x.history.record(
            party,
            PartyIdentifierAdded(
                party_id=survivor,
                identifier=PartyIdentifier(
                    kind=h.kind, value=h.value, trust=Trust.VERIFIED, evidence=STAFF_CONFIRMED
                ),
                source_message_id=None,
                at=x.now,
            ),
        )


async def merge(cmd: c.MergeParties, x: CommandContext) -> None:
    await _merge(x, survivor=cmd.party_id, merged=cmd.merged_party_id, by=cmd.by, reason=cmd.reason)


async def _merge(
    x: CommandContext, *, survivor: uuid.UUID, merged: uuid.UUID, by: Actor, reason: str
) -> uuid.UUID:
    for party_id in (survivor, merged):
        if not await x.repo.party_exists(party_id):
            raise Rejected("unknown party")
    if await x.repo.survivor(merged) != merged:
        raise Rejected("that party is already merged into another")
    if await x.repo.survivor(survivor) == merged or survivor == merged:
        raise Rejected("a party cannot be merged into itself")
    survivor = await x.repo.survivor(survivor)
    merge_id = new_id()
    await x.repo.add_merge(
        id=merge_id,
        party_id=survivor,
        merged_party_id=merged,
        by_user=by.user,
        by_team=by.team,
        reason=reason,
        at=x.now,
    )
    await x.repo.set_merged_into(merged, survivor)
    party = await x.repo.lock_party(survivor)
    x.history.record(
        party,
        PartyMerged(
            merge_id=merge_id,
            party_id=survivor,
            merged_party_id=merged,
            by=by,
            reason=reason,
            at=x.now,
        ),
    )
    await _fold_cases(x, survivor=survivor, merged=merged, by=by, merge_id=merge_id)
    return merge_id


async def _fold_cases(
    x: CommandContext, *, survivor: uuid.UUID, merged: uuid.UUID, by: Actor, merge_id: uuid.UUID
) -> None:
    """Route the merged party's open cases again, now that we know who sent them: a case
    whose contacts pointed at one of the survivor's cases (a quoted number, a thread), or
    that matches an open case of the survivor (same product; or no product and a recent
    open case), is folded into that case. A genuinely new matter stays a case of its own."""
    theirs = (await x.repo.families([merged]))[merged]
    everyone = (await x.repo.families([survivor]))[survivor]
    own = await x.repo.cases_of(everyone - theirs)
    own_by_id = {o.id: o for o in own}
    own_open = [o for o in own if o.is_open]
    for case in [t for t in await x.repo.cases_of(theirs) if t.is_open]:
        contacts = await x.repo.contacts_of(case.id)
        pointed = [own_by_id[ref] for _, ref in contacts if ref in own_by_id]
        if pointed:
            target: Case | None = max(pointed, key=lambda c: c.last_activity_at)
        else:
            pool = own_open
            if case.product:
                # The same product, or else a case that has no product yet (it learns it).
                pool = [o for o in own_open if o.product == case.product] or [
                    o for o in own_open if o.product is None
                ]
            target = max(pool, key=lambda c: c.last_activity_at) if pool else None
        if target is None:
            continue
        # A case that was itself folded since: its contacts are in the case it went to, so
        # this one goes there too (and caseview's result does not depend on the order in
        # which the two parties' partitions are projected).
        final = await x.repo.final_case(target.id)
        if final != target.id:
            target = await x.repo.case(final)
            if target is None or target.id == case.id:
                continue
        result = f"samengevoegd met {target.number}: de afzender is bevestigd als dezelfde partij"
        await x.repo.fold_case(
            case.id,
            target.id,
            result=result,
            now=x.now,
            merge_id=merge_id,
            status_before=case.status,
        )
        if target.product is None and case.product is not None:
            confidential = target.confidential or case.confidential
            await x.repo.classify_cases({target.id: (case.product, confidential)})
            await x.record_on_case(
                target,
                CaseClassified(
                    case_id=target.id,
                    party_id=target.party_id,
                    product=case.product,
                    confidential=confidential,
                    at=x.now,
                ),
            )
        party = await x.repo.lock_party(case.party_id)
        x.history.record(
            party,
            CaseMerged(
                case_id=case.id,
                into_case_id=target.id,
                into_case_number=target.number,
                party_id=case.party_id,
                message_ids=[message_id for message_id, _ in contacts],
                by=by,
                reason=result,
                at=x.now,
            ),
            aggregate="case",
        )


async def unmerge(cmd: c.UnmergeParties, x: CommandContext) -> None:
    row = await x.repo.merge(cmd.merge_id)
    if row is None:
        raise Rejected("unknown merge")
    if row.undone_at is not None:
        raise Rejected("this merge was already undone")
    await x.repo.undo_merge(row.id, by=cmd.by.user, reason=cmd.reason, now=x.now)
    await x.repo.set_merged_into(row.merged_party_id, None)
    party = await x.repo.lock_party(row.party_id)
    x.history.record(
        party,
        PartyUnmerged(
            merge_id=row.id,
            party_id=row.party_id,
            merged_party_id=row.merged_party_id,
            by=cmd.by,
            reason=cmd.reason,
            at=x.now,
        ),
    )
    await _undo_effects(x, row.id, survivor=row.party_id, by=cmd.by, reason=cmd.reason)


async def _undo_effects(
    x: CommandContext, merge_id: uuid.UUID, *, survivor: uuid.UUID, by: Actor, reason: str
) -> None:
    """Give back what the merge changed: the cases it folded reopen with their contacts and
    thread references, and an address its decision verified loses that rung."""
    effects = await x.repo.merge_effects_of(merge_id)
    moved: dict[uuid.UUID, tuple[list[uuid.UUID], list[str]]] = {}
    for e in effects:
        if e.kind == "contact":
            moved.setdefault(e.case_id, ([], []))[0].append(uuid.UUID(e.key))
        elif e.kind == "ref":
            moved.setdefault(e.case_id, ([], []))[1].append(e.key)
    for e in (e for e in effects if e.kind == "fold"):
        case_id = uuid.UUID(e.key)
        message_ids, refs = moved.get(case_id, ([], []))
        await x.repo.unfold_case(case_id, message_ids=message_ids, refs=refs, status=e.detail)
        case = await x.repo.case(case_id)
        if case is None:
            continue
        owner = await x.repo.lock_party(case.party_id)
        x.history.record(
            owner,
            CaseUnfolded(
                case_id=case_id,
                from_case_id=e.case_id,
                party_id=case.party_id,
                merge_id=merge_id,
                message_ids=message_ids,
                status=e.detail,
                by=by,
                reason=reason,
                at=x.now,
            ),
            aggregate="case",
        )
    for e in (e for e in effects if e.kind == "verified"):
        gone = await x.repo.remove_identifier(uuid.UUID(e.key))
        if gone is None:
            continue
        party = await x.repo.lock_party(gone.party_id)
        x.history.record(
            party,
            PartyIdentifierRevoked(
                party_id=gone.party_id,
                identifier=PartyIdentifier(
                    kind=IdentifierKind(gone.kind),
                    value=gone.value,
                    trust=Trust(gone.trust),
                    evidence=STAFF_CONFIRMED,
                ),
                merge_id=merge_id,
                reason=reason,
                at=x.now,
            ),
        )


Handler = Callable[[Any, CommandContext], Awaitable[None]]

HANDLERS: dict[type[Event], Handler] = {
    c.HandOverCase: hand_over,
    c.AddParticipant: add_participant,
    c.RemoveParticipant: remove_participant,
    c.ChangeStatus: change_status,
    c.CloseCase: close,
    c.AddNote: add_note,
    c.RegisterOutboundContact: register_outbound,
    c.DecideLink: decide_link,
    c.MergeParties: merge,
    c.UnmergeParties: unmerge,
}
BY_TYPE: dict[str, type[Event]] = {model.TYPE: model for model in HANDLERS}


async def handle_command(session: AsyncSession, event: CloudEvent, ctx: RouterContext) -> None:
    """Carry out one command, or publish why not. A malformed command is rejected too."""
    model = BY_TYPE[event.type]
    history = History(source=ctx.source, topic=ctx.timeline_topic, cause=event.id)
    try:
        command = model.model_validate(event.data)
    except ValueError as exc:
        await _reject(session, ctx, event, f"invalid command: {_first_error(exc)}", None)
        return
    try:
        async with session.begin_nested():
            x = CommandContext(session, ctx, event, history)
            await HANDLERS[model](command, x)
            await history.save(session)
    except Rejected as rejected:
        await _reject(session, ctx, event, rejected.reason, command)


async def _reject(
    session: AsyncSession, ctx: RouterContext, event: CloudEvent, reason: str, command: Event | None
) -> None:
    REJECTED.labels(event.type.removeprefix("nl.eenloket.")).inc()
    repo = Repository(session)
    history = History(source=ctx.source, topic=ctx.timeline_topic, cause=event.id)
    case_id = getattr(command, "case_id", None)
    case = await repo.case(case_id) if isinstance(case_id, uuid.UUID) else None
    party_id = case.party_id if case else getattr(command, "party_id", None)
    if isinstance(party_id, uuid.UUID) and not await repo.party_exists(party_id):
        party_id = None
    payload = CommandRejected(
        command_id=event.id,
        command_type=event.type,
        party_id=party_id,
        case_id=case.id if case else None,
        # A reason may quote the command: it must never make the rejection unstorable.
        reason=scrubbed(reason),
        by=getattr(command, "by", None),
        at=datetime.now(UTC),
    )
    if party_id is not None:
        history.record(await repo.lock_party(party_id), payload, aggregate="command")
    else:
        history.record_unowned(event.id, payload, aggregate="command")
    await history.save(session)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors(include_input=False, include_url=False)[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)
