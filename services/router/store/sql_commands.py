"""The statements only staff commands make, one row at a time (identifiers verified or
removed, suggestions decided, merges and their undo, case folds, participants), in
SQLAlchemy Core on the session: the same on PostgreSQL and SQLite."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain.identity import Holding
from services.router.domain.model import Case
from services.router.orm import (
    case_participants,
    case_thread_refs,
    cases,
    contact_preferences,
    contacts,
    link_suggestions,
    merge_effects,
    merges,
    parties,
    party_identifiers,
    replies,
)
from services.router.store.protocol import (
    ContactPreferences,
    Merge,
    MergeEffect,
    Suggestion,
    fold_effects,
    folded_case,
)
from shared.contracts import IdentifierKind, Trust


def as_case(row: Any) -> Case:
    """A case from a SQLAlchemy row's mapping or an asyncpg record."""
    return Case(
        id=row["id"],
        number=row["number"],
        party_id=row["party_id"],
        product=row["product"],
        status=row["status"],
        owner_team=row["owner_team"],
        opened_at=row["opened_at"],
        last_activity_at=row["last_activity_at"],
        confidential=row["confidential"],
        handover_count=row["handover_count"],
        establishment=row["establishment"],
    )


class SqlCommandStatements:
    session: AsyncSession

    async def identifiers_of(self, party_id: uuid.UUID) -> list[Holding]:
        i = party_identifiers
        rows = await self.session.execute(
            select(i.c.kind, i.c.value, i.c.trust).where(i.c.party_id == party_id)
        )
        return [Holding(party_id, IdentifierKind(r.kind), r.value, Trust(r.trust)) for r in rows]

    async def strongly_held_elsewhere(
        self, kind: IdentifierKind, value: str, party_id: uuid.UUID
    ) -> bool:
        holder = await self.session.scalar(
            select(party_identifiers.c.party_id).where(
                party_identifiers.c.kind == kind.value,
                party_identifiers.c.value == value,
                party_identifiers.c.trust != Trust.CLAIMED.value,
            )
        )
        return holder is not None and holder != party_id

    async def set_merged_into(self, party_id: uuid.UUID, survivor: uuid.UUID | None) -> None:
        values: dict[str, Any] = {"merged_into": survivor}
        if survivor is not None:
            # A merged party's address no longer recognises anyone by itself: the next
            # message from it (a shared family address) is suggested, not linked.
            values["origin"] = None
        await self.session.execute(update(parties).where(parties.c.id == party_id).values(**values))

    async def verify_identifier(
        self, party_id: uuid.UUID, kind: IdentifierKind, value: str, now: datetime
    ) -> uuid.UUID:
        row_id = uuid.uuid4()
        await self.session.execute(
            party_identifiers.insert().values(
                id=row_id,
                party_id=party_id,
                kind=kind.value,
                value=value,
                trust=Trust.VERIFIED.value,
                source_message_id=None,
                created_at=now,
            )
        )
        return row_id

    async def remove_identifier(self, row_id: uuid.UUID) -> Holding | None:
        t = party_identifiers
        row = (
            await self.session.execute(
                select(t.c.party_id, t.c.kind, t.c.value, t.c.trust).where(t.c.id == row_id)
            )
        ).one_or_none()
        if row is None:
            return None
        await self.session.execute(t.delete().where(t.c.id == row_id))
        return Holding(row.party_id, IdentifierKind(row.kind), row.value, Trust(row.trust))

    async def suggestion(self, suggestion_id: uuid.UUID) -> Suggestion | None:
        s = link_suggestions
        row = (
            await self.session.execute(
                select(s.c.id, s.c.party_id, s.c.suggested_party_id, s.c.status)
                .where(s.c.id == suggestion_id)
                .with_for_update()
            )
        ).one_or_none()
        return None if row is None else Suggestion(*row)

    async def decide_suggestion(
        self, suggestion_id: uuid.UUID, *, confirmed: bool, by: str, now: datetime
    ) -> None:
        await self.session.execute(
            update(link_suggestions)
            .where(link_suggestions.c.id == suggestion_id)
            .values(status="confirmed" if confirmed else "rejected", decided_at=now, decided_by=by)
        )

    async def add_merge(
        self,
        *,
        id: uuid.UUID,
        party_id: uuid.UUID,
        merged_party_id: uuid.UUID,
        by_user: str,
        by_team: str | None,
        reason: str,
        at: datetime,
    ) -> None:
        await self.session.execute(
            merges.insert().values(
                id=id,
                party_id=party_id,
                merged_party_id=merged_party_id,
                by_user=by_user,
                by_team=by_team,
                reason=reason,
                at=at,
            )
        )

    async def merge(self, merge_id: uuid.UUID) -> Merge | None:
        m = merges
        row = (
            await self.session.execute(
                select(m.c.id, m.c.party_id, m.c.merged_party_id, m.c.undone_at)
                .where(m.c.id == merge_id)
                .with_for_update()
            )
        ).one_or_none()
        return None if row is None else Merge(*row)

    async def undo_merge(self, merge_id: uuid.UUID, *, by: str, reason: str, now: datetime) -> None:
        await self.session.execute(
            update(merges)
            .where(merges.c.id == merge_id)
            .values(undone_at=now, undone_by=by, undo_reason=reason)
        )

    async def record_merge_effects(
        self, merge_id: uuid.UUID, effects: list[dict[str, Any]], *, case_id: uuid.UUID | None
    ) -> None:
        if effects:
            await self.session.execute(
                merge_effects.insert(),
                [{"merge_id": merge_id, "case_id": case_id, "detail": None} | e for e in effects],
            )

    async def merge_effects_of(self, merge_id: uuid.UUID) -> list[MergeEffect]:
        e = merge_effects
        rows = await self.session.execute(
            select(e.c.kind, e.c.key, e.c.case_id, e.c.detail).where(e.c.merge_id == merge_id)
        )
        return [MergeEffect(*r) for r in rows]

    async def final_case(self, case_id: uuid.UUID) -> uuid.UUID:
        seen = {case_id}
        current = case_id
        for _ in range(32):
            into = await self.session.scalar(
                select(cases.c.merged_into).where(cases.c.id == current)
            )
            if into is None or into in seen:
                break
            seen.add(into)
            current = into
        return current

    async def update_case(self, case_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(update(cases).where(cases.c.id == case_id).values(**values))

    async def contacts_of(self, case_id: uuid.UUID) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
        rows = await self.session.execute(
            select(contacts.c.message_id, contacts.c.referenced_case_id).where(
                contacts.c.case_id == case_id
            )
        )
        return [(r.message_id, r.referenced_case_id) for r in rows]

    async def channel_message_ids(self, case_id: uuid.UUID, channel: str, limit: int) -> list[str]:
        rows = await self.session.execute(
            select(contacts.c.channel_message_id)
            .where(
                contacts.c.case_id == case_id,
                contacts.c.channel == channel,
                contacts.c.channel_message_id.is_not(None),
            )
            .order_by(contacts.c.received_at.desc(), contacts.c.message_id.desc())
            .limit(limit)
        )
        return [r.channel_message_id for r in rows]

    async def insert_reply(
        self,
        reply_id: uuid.UUID,
        *,
        case_id: uuid.UUID,
        channel: str,
        requested_at: datetime,
        request: dict[str, Any] | None = None,
    ) -> None:
        await self.session.execute(
            insert(replies).values(
                id=reply_id,
                case_id=case_id,
                channel=channel,
                requested_at=requested_at,
                request=request,
            )
        )

    async def reply_request(self, reply_id: uuid.UUID) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self.session.scalar(
            select(replies.c.request).where(replies.c.id == reply_id)
        )
        return found

    async def contact_preferences(self, party_id: uuid.UUID) -> ContactPreferences:
        t = contact_preferences
        row = (await self.session.execute(select(t).where(t.c.party_id == party_id))).first()
        if row is None:
            return ContactPreferences()
        return ContactPreferences(row.preferred_channel, frozenset(row.opted_out))

    async def set_contact_preferences(
        self, party_id: uuid.UUID, prefs: ContactPreferences, now: datetime
    ) -> None:
        t = contact_preferences
        values = {
            "preferred_channel": prefs.preferred_channel,
            "opted_out": sorted(prefs.opted_out),
            "changed_at": now,
        }
        # The party row is locked by the caller: no concurrent writer of this row.
        done = await self.session.execute(update(t).where(t.c.party_id == party_id).values(values))
        if not getattr(done, "rowcount", 0):
            await self.session.execute(insert(t).values(party_id=party_id, **values))

    async def reply_case(self, reply_id: uuid.UUID) -> uuid.UUID | None:
        found: uuid.UUID | None = await self.session.scalar(
            select(replies.c.case_id).where(replies.c.id == reply_id)
        )
        return found

    async def fold_case(
        self,
        case_id: uuid.UUID,
        into: uuid.UUID,
        *,
        result: str,
        now: datetime,
        merge_id: uuid.UUID,
        status_before: str,
    ) -> None:
        moved_contacts = (
            await self.session.scalars(
                select(contacts.c.message_id).where(contacts.c.case_id == case_id)
            )
        ).all()
        moved_refs = (
            await self.session.scalars(
                select(case_thread_refs.c.ref).where(case_thread_refs.c.case_id == case_id)
            )
        ).all()
        effects = fold_effects(case_id, into, status_before, moved_contacts, moved_refs)
        await self.record_merge_effects(merge_id, effects, case_id=case_id)
        await self.session.execute(
            update(contacts).where(contacts.c.case_id == case_id).values(case_id=into)
        )
        await self.session.execute(
            update(case_thread_refs)
            .where(case_thread_refs.c.case_id == case_id)
            .values(case_id=into)
        )
        await self.update_case(case_id, **folded_case(into, result=result, now=now))

    async def unfold_case(
        self, case_id: uuid.UUID, *, message_ids: list[uuid.UUID], refs: list[str], status: str
    ) -> None:
        if message_ids:
            await self.session.execute(
                update(contacts)
                .where(contacts.c.message_id.in_(message_ids))
                .values(case_id=case_id)
            )
        if refs:
            await self.session.execute(
                update(case_thread_refs)
                .where(case_thread_refs.c.ref.in_(refs))
                .values(case_id=case_id)
            )
        await self.update_case(
            case_id, status=status, result=None, closed_at=None, merged_into=None
        )

    async def participants(self, case_id: uuid.UUID) -> set[str]:
        p = case_participants
        return set(await self.session.scalars(select(p.c.team).where(p.c.case_id == case_id)))

    async def add_participant(self, case_id: uuid.UUID, team: str) -> None:
        await self.session.execute(case_participants.insert().values(case_id=case_id, team=team))

    async def remove_participant(self, case_id: uuid.UUID, team: str) -> None:
        await self.session.execute(
            case_participants.delete().where(
                case_participants.c.case_id == case_id, case_participants.c.team == team
            )
        )
