"""Identity commands: deciding a suggested link, merging parties (their open cases fold
into the survivor's), and undoing a merge (what it changed is given back)."""

from __future__ import annotations

import uuid

from services.router.commands.context import CommandContext, Rejected
from services.router.domain.model import Case
from services.router.domain.trust import ADDRESS_KINDS, STAFF_CONFIRMED
from shared.contracts import (
    Actor,
    CaseClassified,
    CaseMerged,
    CaseStatus,
    CaseUnfolded,
    LinkDecided,
    PartyIdentifier,
    PartyIdentifierAdded,
    PartyIdentifierRevoked,
    PartyMerged,
    PartyUnmerged,
    Trust,
)
from shared.contracts import commands as c
from shared.ids import new_id


async def decide_link(cmd: c.DecideLink, x: CommandContext) -> None:
    row = await x.store.suggestion(cmd.suggestion_id)
    if row is None:
        raise Rejected("unknown suggestion")
    if row.status != "pending":
        raise Rejected(f"suggestion was already {row.status}")
    await x.store.decide_suggestion(row.id, confirmed=cmd.confirm, by=cmd.by.user, now=x.now)
    party = await x.store.lock_party(row.party_id)
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
        if await x.store.is_provisional(a) and not await x.store.is_provisional(b):
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
        for h in await x.store.identifiers_of(merged)
        if h.kind in ADDRESS_KINDS and h.trust == Trust.CLAIMED
    ]
    if not addresses:
        raise Rejected("there is no claimed e-mail address, phone number or chat handle to verify")
    party = await x.store.lock_party(survivor)
    for h in addresses:
        if await x.store.strongly_held_elsewhere(h.kind, h.value, survivor):
            raise Rejected(f"that {h.kind.value} is already verified for another party")
        row_id = await x.store.verify_identifier(survivor, h.kind, h.value, x.now)
        # Undoing the merge takes the verification back (the decision that made it).
        await x.store.record_merge_effects(
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
        if not await x.store.party_exists(party_id):
            raise Rejected("unknown party")
    if await x.store.survivor(merged) != merged:
        raise Rejected("that party is already merged into another")
    if await x.store.survivor(survivor) == merged or survivor == merged:
        raise Rejected("a party cannot be merged into itself")
    survivor = await x.store.survivor(survivor)
    merge_id = new_id()
    await x.store.add_merge(
        id=merge_id,
        party_id=survivor,
        merged_party_id=merged,
        by_user=by.user,
        by_team=by.team,
        reason=reason,
        at=x.now,
    )
    await x.store.set_merged_into(merged, survivor)
    party = await x.store.lock_party(survivor)
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
    theirs = (await x.store.families([merged]))[merged]
    everyone = (await x.store.families([survivor]))[survivor]
    own = await x.store.cases_of(everyone - theirs)
    own_by_id = {o.id: o for o in own}
    own_open = [o for o in own if o.is_open]
    for case in [t for t in await x.store.cases_of(theirs) if t.is_open]:
        contacts = await x.store.contacts_of(case.id)
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
        final = await x.store.final_case(target.id)
        if final != target.id:
            target = await x.store.case(final)
            if target is None or target.id == case.id:
                continue
        result = f"samengevoegd met {target.number}: de afzender is bevestigd als dezelfde partij"
        await x.store.fold_case(
            case.id,
            target.id,
            result=result,
            now=x.now,
            merge_id=merge_id,
            status_before=case.status,
        )
        if target.product is None and case.product is not None:
            confidential = target.confidential or case.confidential
            await x.store.classify_cases({target.id: (case.product, confidential)})
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
        party = await x.store.lock_party(case.party_id)
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
    row = await x.store.merge(cmd.merge_id)
    if row is None:
        raise Rejected("unknown merge")
    if row.undone_at is not None:
        raise Rejected("this merge was already undone")
    await x.store.undo_merge(row.id, by=cmd.by.user, reason=cmd.reason, now=x.now)
    await x.store.set_merged_into(row.merged_party_id, None)
    party = await x.store.lock_party(row.party_id)
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
    effects = await x.store.merge_effects_of(merge_id)
    moved: dict[uuid.UUID | None, tuple[list[uuid.UUID], list[str]]] = {}
    for e in effects:
        if e.kind == "contact":
            moved.setdefault(e.case_id, ([], []))[0].append(uuid.UUID(e.key))
        elif e.kind == "ref":
            moved.setdefault(e.case_id, ([], []))[1].append(e.key)
    for e in (e for e in effects if e.kind == "fold"):
        case_id = uuid.UUID(e.key)
        message_ids, refs = moved.get(case_id, ([], []))
        status = e.detail or CaseStatus.OPEN.value  # a fold notes the status it ended
        await x.store.unfold_case(case_id, message_ids=message_ids, refs=refs, status=status)
        case = await x.store.case(case_id)
        if case is None:
            continue
        owner = await x.store.lock_party(case.party_id)
        x.history.record(
            owner,
            CaseUnfolded(
                case_id=case_id,
                from_case_id=e.case_id,
                party_id=case.party_id,
                merge_id=merge_id,
                message_ids=message_ids,
                status=status,
                by=by,
                reason=reason,
                at=x.now,
            ),
            aggregate="case",
        )
    for e in (e for e in effects if e.kind == "verified"):
        gone = await x.store.remove_identifier(uuid.UUID(e.key))
        if gone is None:
            continue
        party = await x.store.lock_party(gone.party_id)
        x.history.record(
            party,
            PartyIdentifierRevoked(
                party_id=gone.party_id,
                identifier=PartyIdentifier(
                    kind=gone.kind,
                    value=gone.value,
                    trust=gone.trust,
                    evidence=STAFF_CONFIRMED,
                ),
                merge_id=merge_id,
                reason=reason,
                at=x.now,
            ),
        )
