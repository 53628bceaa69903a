"""An in-memory ``RouterStore``: the router's tables as dicts of rows. It behaves as the
real stores do (``tests/contract`` runs the same suite on all three), so the routing use
case and the command handlers are unit-tested on it in milliseconds, and
``eenloket routing evaluate`` measures routing accuracy through the real use case on it
(shipped code for that reason, not a test fake)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.router.domain.identity import Holding
from services.router.domain.model import Case, Party, case_number
from services.router.store.protocol import (
    ContactPreferences,
    Merge,
    MergeEffect,
    NewIdentifier,
    Suggestion,
    case_row,
    fold_effects,
    folded_case,
)
from services.router.store.sql_commands import as_case
from shared.contracts import OPEN_STATUSES, IdentifierKind, SenderIdentifier, Trust

Row = dict[str, Any]


@dataclass
class Tables:
    parties: dict[uuid.UUID, Row] = field(default_factory=dict)
    identifiers: dict[uuid.UUID, Row] = field(default_factory=dict)
    suggestions: dict[uuid.UUID, Row] = field(default_factory=dict)
    merges: dict[uuid.UUID, Row] = field(default_factory=dict)
    merge_effects: dict[tuple[uuid.UUID, str, str], Row] = field(default_factory=dict)
    cases: dict[uuid.UUID, Row] = field(default_factory=dict)
    contacts: dict[uuid.UUID, Row] = field(default_factory=dict)  # by message id
    participants: set[tuple[uuid.UUID, str]] = field(default_factory=set)
    thread_refs: dict[str, uuid.UUID] = field(default_factory=dict)
    counters: dict[int, int] = field(default_factory=dict)
    replies: dict[uuid.UUID, Row] = field(default_factory=dict)
    contact_preferences: dict[uuid.UUID, ContactPreferences] = field(default_factory=dict)
    outbox: list[Row] = field(default_factory=list)


class FakeRouterStore:
    def __init__(self) -> None:
        self.t = Tables()

    # --- parties -------------------------------------------------------------------

    async def survivor(self, party_id: uuid.UUID) -> uuid.UUID:
        seen = {party_id}
        while True:
            row = self.t.parties.get(party_id)
            into = None if row is None else row["merged_into"]
            if into is None or into in seen:
                return party_id
            seen.add(into)
            party_id = into

    async def survivors(self, party_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        return {p: await self.survivor(p) for p in set(party_ids) if p in self.t.parties}

    async def holdings(self, identifiers: Iterable[SenderIdentifier]) -> list[Holding]:
        pairs = {(i.kind.value, i.value) for i in identifiers}
        return [
            Holding(
                await self.survivor(r["party_id"]),
                IdentifierKind(r["kind"]),
                r["value"],
                Trust(r["trust"]),
                provisional=self.t.parties[r["party_id"]]["provisional"]
                and self.t.parties[r["party_id"]]["merged_into"] is None,
            )
            for r in self.t.identifiers.values()
            if (r["kind"], r["value"]) in pairs
        ]

    async def parties_by_origin(self, origins: Iterable[str]) -> dict[str, uuid.UUID]:
        wanted = set(origins)
        return {
            r["origin"]: await self.survivor(pid)
            for pid, r in self.t.parties.items()
            if r["origin"] is not None and r["origin"] in wanted
        }

    async def unmerged_provisional(self, party_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        return {
            p
            for p in set(party_ids)
            if (r := self.t.parties.get(p)) and r["provisional"] and r["merged_into"] is None
        }

    async def lock_parties(self, party_ids: list[uuid.UUID]) -> dict[uuid.UUID, Party]:
        return {
            p: Party(id=p, provisional=r["provisional"], version=r["version"])
            for p in sorted(party_ids)
            if (r := self.t.parties.get(p)) is not None
        }

    async def lock_party(self, party_id: uuid.UUID) -> Party:
        found = await self.lock_parties([party_id])
        if party_id not in found:
            raise LookupError("unknown party")
        return found[party_id]

    async def families(self, party_ids: list[uuid.UUID]) -> dict[uuid.UUID, frozenset[uuid.UUID]]:
        members: dict[uuid.UUID, set[uuid.UUID]] = {p: {p} for p in party_ids}
        owner = {p: p for p in party_ids}
        frontier = list(party_ids)
        while frontier:
            merged = [(p, r["merged_into"]) for p, r in self.t.parties.items()]
            rows = [(p, into) for p, into in merged if into in frontier]
            frontier = []
            for pid, into in rows:
                if pid not in owner:
                    owner[pid] = owner[into]
                    members[owner[pid]].add(pid)
                    frontier.append(pid)
        return {p: frozenset(m) for p, m in members.items()}

    async def party_exists(self, party_id: uuid.UUID) -> bool:
        return party_id in self.t.parties

    async def is_provisional(self, party_id: uuid.UUID) -> bool:
        row = self.t.parties.get(party_id)
        return bool(row and row["provisional"])

    async def identifiers_of(self, party_id: uuid.UUID) -> list[Holding]:
        return [
            Holding(party_id, IdentifierKind(r["kind"]), r["value"], Trust(r["trust"]))
            for r in self.t.identifiers.values()
            if r["party_id"] == party_id
        ]

    async def strongly_held_elsewhere(
        self, kind: IdentifierKind, value: str, party_id: uuid.UUID
    ) -> bool:
        return any(
            r["kind"] == kind.value
            and r["value"] == value
            and r["trust"] != Trust.CLAIMED.value
            and r["party_id"] != party_id
            for r in self.t.identifiers.values()
        )

    async def insert_parties(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            self.t.parties[r["id"]] = {"merged_into": None} | r

    async def insert_identifiers(self, items: list[NewIdentifier], *, now: datetime) -> None:
        for party_id, i, message_id in items:
            self._add_identifier(uuid.uuid4(), party_id, i.kind, i.value, i.trust, message_id, now)

    def _add_identifier(
        self,
        row_id: uuid.UUID,
        party_id: uuid.UUID,
        kind: IdentifierKind,
        value: str,
        trust: Trust,
        message_id: uuid.UUID | None,
        now: datetime,
    ) -> None:
        if trust != Trust.CLAIMED and any(
            r["kind"] == kind.value and r["value"] == value and r["trust"] != Trust.CLAIMED.value
            for r in self.t.identifiers.values()
        ):
            raise ValueError("an identifier is held strongly by one party only")
        self.t.identifiers[row_id] = {
            "id": row_id,
            "party_id": party_id,
            "kind": kind.value,
            "value": value,
            "trust": trust.value,
            "source_message_id": message_id,
            "created_at": now,
        }

    async def set_merged_into(self, party_id: uuid.UUID, survivor: uuid.UUID | None) -> None:
        row = self.t.parties[party_id]
        row["merged_into"] = survivor
        if survivor is not None:
            row["origin"] = None

    async def verify_identifier(
        self, party_id: uuid.UUID, kind: IdentifierKind, value: str, now: datetime
    ) -> uuid.UUID:
        row_id = uuid.uuid4()
        self._add_identifier(row_id, party_id, kind, value, Trust.VERIFIED, None, now)
        return row_id

    async def remove_identifier(self, row_id: uuid.UUID) -> Holding | None:
        r = self.t.identifiers.pop(row_id, None)
        if r is None:
            return None
        return Holding(r["party_id"], IdentifierKind(r["kind"]), r["value"], Trust(r["trust"]))

    # --- suggested links and merges -------------------------------------------------

    async def insert_suggestions(self, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
        inserted = set()
        for r in rows:
            pair = (r["party_id"], r["suggested_party_id"])
            known = {(s["party_id"], s["suggested_party_id"]) for s in self.t.suggestions.values()}
            if pair not in known and r["id"] not in self.t.suggestions:
                self.t.suggestions[r["id"]] = {"decided_at": None, "decided_by": None} | r
                inserted.add(r["id"])
        return inserted

    async def suggestion(self, suggestion_id: uuid.UUID) -> Suggestion | None:
        r = self.t.suggestions.get(suggestion_id)
        if r is None:
            return None
        return Suggestion(r["id"], r["party_id"], r["suggested_party_id"], r["status"])

    async def decide_suggestion(
        self, suggestion_id: uuid.UUID, *, confirmed: bool, by: str, now: datetime
    ) -> None:
        self.t.suggestions[suggestion_id].update(
            status="confirmed" if confirmed else "rejected", decided_at=now, decided_by=by
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
        self.t.merges[id] = {
            "id": id,
            "party_id": party_id,
            "merged_party_id": merged_party_id,
            "by_user": by_user,
            "by_team": by_team,
            "reason": reason,
            "at": at,
            "undone_at": None,
            "undone_by": None,
            "undo_reason": None,
        }

    async def merge(self, merge_id: uuid.UUID) -> Merge | None:
        r = self.t.merges.get(merge_id)
        if r is None:
            return None
        return Merge(r["id"], r["party_id"], r["merged_party_id"], r["undone_at"])

    async def undo_merge(self, merge_id: uuid.UUID, *, by: str, reason: str, now: datetime) -> None:
        self.t.merges[merge_id].update(undone_at=now, undone_by=by, undo_reason=reason)

    async def record_merge_effects(
        self, merge_id: uuid.UUID, effects: list[dict[str, Any]], *, case_id: uuid.UUID | None
    ) -> None:
        for e in effects:
            row = {"merge_id": merge_id, "case_id": case_id, "detail": None} | e
            key = (merge_id, row["kind"], row["key"])
            if key in self.t.merge_effects:
                raise ValueError("duplicate merge effect")
            self.t.merge_effects[key] = row

    async def merge_effects_of(self, merge_id: uuid.UUID) -> list[MergeEffect]:
        return [
            MergeEffect(r["kind"], r["key"], r["case_id"], r["detail"])
            for (m, _, _), r in self.t.merge_effects.items()
            if m == merge_id
        ]

    # --- cases ----------------------------------------------------------------------

    async def final_case(self, case_id: uuid.UUID) -> uuid.UUID:
        seen = {case_id}
        current = case_id
        for _ in range(32):
            row = self.t.cases.get(current)
            into = None if row is None else row["merged_into"]
            if into is None or into in seen:
                break
            seen.add(into)
            current = into
        return current

    async def case(self, case_id: uuid.UUID, *, lock: bool = False) -> Case | None:
        row = self.t.cases.get(case_id)
        return None if row is None else as_case(row)

    async def cases_of(
        self, party_ids: Iterable[uuid.UUID], *, open_only: bool = False
    ) -> list[Case]:
        wanted = set(party_ids)
        return [
            as_case(r)
            for r in self.t.cases.values()
            if r["party_id"] in wanted and (not open_only or r["status"] in OPEN_STATUSES)
        ]

    async def cases_by_numbers(self, numbers: Iterable[str]) -> list[Case]:
        wanted = set(numbers)
        return [as_case(r) for r in self.t.cases.values() if r["number"] in wanted]

    async def cases_by_refs(self, refs: Iterable[str]) -> dict[str, Case]:
        return {
            ref: as_case(self.t.cases[self.t.thread_refs[ref]])
            for ref in set(refs)
            if ref in self.t.thread_refs
        }

    async def next_case_numbers(self, year: int, count: int) -> list[str]:
        last = self.t.counters.get(year, 0) + count
        self.t.counters[year] = last
        return [case_number(year, serial) for serial in range(last - count + 1, last + 1)]

    async def insert_cases(self, new: list[Case], due: dict[uuid.UUID, datetime | None]) -> None:
        numbers = {r["number"] for r in self.t.cases.values()}
        for c in new:
            if c.id in self.t.cases or c.number in numbers:
                raise ValueError(f"case {c.number} exists")
            unset = {"closed_at": None, "result": None, "merged_into": None}
            self.t.cases[c.id] = case_row(c, due[c.id]) | unset

    async def touch_cases(self, case_ids: Iterable[uuid.UUID], now: datetime) -> None:
        for c in case_ids:
            if c in self.t.cases:
                self.t.cases[c]["last_activity_at"] = now

    async def classify_cases(self, classified: dict[uuid.UUID, tuple[str | None, bool]]) -> None:
        for c, (product, confidential) in classified.items():
            if c in self.t.cases:
                self.t.cases[c].update(product=product, confidential=confidential)

    async def update_case(self, case_id: uuid.UUID, **values: Any) -> None:
        row = self.t.cases.get(case_id)
        if row is not None:
            unknown = set(values) - set(row)
            if unknown:
                raise KeyError(f"cases has no column {sorted(unknown)}")
            row.update(values)

    async def insert_thread_refs(self, refs: dict[str, uuid.UUID]) -> None:
        for ref, case_id in refs.items():
            self.t.thread_refs.setdefault(ref, case_id)

    async def insert_contacts(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            self.t.contacts.setdefault(r["message_id"], dict(r))

    async def contacts_of(self, case_id: uuid.UUID) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
        return [
            (m, r["referenced_case_id"])
            for m, r in self.t.contacts.items()
            if r["case_id"] == case_id
        ]

    async def channel_message_ids(self, case_id: uuid.UUID, channel: str, limit: int) -> list[str]:
        rows = [
            r
            for r in self.t.contacts.values()
            if r["case_id"] == case_id and r.get("channel") == channel
            if r.get("channel_message_id") is not None
        ]
        rows.sort(key=lambda r: (r["received_at"], r["message_id"]), reverse=True)
        return [r["channel_message_id"] for r in rows[:limit]]

    async def insert_reply(
        self,
        reply_id: uuid.UUID,
        *,
        case_id: uuid.UUID,
        channel: str,
        requested_at: datetime,
        request: dict[str, Any] | None = None,
    ) -> None:
        if reply_id in self.t.replies:
            raise ValueError(f"reply {reply_id} exists")
        self.t.replies[reply_id] = {
            "id": reply_id,
            "case_id": case_id,
            "channel": channel,
            "requested_at": requested_at,
            "request": copy.deepcopy(request),
        }

    async def reply_request(self, reply_id: uuid.UUID) -> dict[str, Any] | None:
        row = self.t.replies.get(reply_id)
        return None if row is None else copy.deepcopy(row["request"])

    async def contact_preferences(self, party_id: uuid.UUID) -> ContactPreferences:
        return self.t.contact_preferences.get(party_id, ContactPreferences())

    async def set_contact_preferences(
        self, party_id: uuid.UUID, prefs: ContactPreferences, now: datetime
    ) -> None:
        self.t.contact_preferences[party_id] = prefs

    async def reply_case(self, reply_id: uuid.UUID) -> uuid.UUID | None:
        row = self.t.replies.get(reply_id)
        return None if row is None else row["case_id"]

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
        moved = [m for m, r in self.t.contacts.items() if r["case_id"] == case_id]
        refs = [ref for ref, c in self.t.thread_refs.items() if c == case_id]
        effects = fold_effects(case_id, into, status_before, moved, refs)
        await self.record_merge_effects(merge_id, effects, case_id=case_id)
        for m in moved:
            self.t.contacts[m]["case_id"] = into
        for ref in refs:
            self.t.thread_refs[ref] = into
        await self.update_case(case_id, **folded_case(into, result=result, now=now))

    async def unfold_case(
        self, case_id: uuid.UUID, *, message_ids: list[uuid.UUID], refs: list[str], status: str
    ) -> None:
        for m in message_ids:
            if m in self.t.contacts:
                self.t.contacts[m]["case_id"] = case_id
        for ref in refs:
            if ref in self.t.thread_refs:
                self.t.thread_refs[ref] = case_id
        await self.update_case(
            case_id, status=status, result=None, closed_at=None, merged_into=None
        )

    async def participants(self, case_id: uuid.UUID) -> set[str]:
        return {team for c, team in self.t.participants if c == case_id}

    async def add_participant(self, case_id: uuid.UUID, team: str) -> None:
        if (case_id, team) in self.t.participants:
            raise ValueError("already a participant")
        self.t.participants.add((case_id, team))

    async def remove_participant(self, case_id: uuid.UUID, team: str) -> None:
        self.t.participants.discard((case_id, team))

    # --- events and transactions ------------------------------------------------------

    async def write_events(
        self, versions: dict[uuid.UUID, int], rows: list[dict[str, Any]]
    ) -> None:
        for p, v in versions.items():
            if p in self.t.parties:
                self.t.parties[p]["version"] = v
        self.t.outbox.extend(copy.deepcopy(rows))

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        before = copy.deepcopy(self.t)
        try:
            yield
        except BaseException:
            self.t = before
            raise
