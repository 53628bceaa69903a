"""What the router reads and writes, as one contract: ``RouterStore``.

Three implementations behave the same (``tests/contract`` runs one suite on each):
``PostgresStore`` (array statements on asyncpg, the production path), ``SqlStore``
(SQLAlchemy Core: SQLite, the demo) and an in-memory fake for unit tests
(``services/router/store/memory.py``). Reads and writes come in batches: a routed batch of
messages makes a handful of statements, whatever its size.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.router.domain.identity import Holding
from services.router.domain.model import Case, Party
from shared.contracts import CaseStatus, IdentifierKind, InboundMessage, SenderIdentifier


@dataclass(frozen=True)
class Suggestion:
    """A suggested identity link (a row of ``link_suggestions``)."""

    id: uuid.UUID
    party_id: uuid.UUID
    suggested_party_id: uuid.UUID
    status: str  # pending | confirmed | rejected


@dataclass(frozen=True)
class Merge:
    """A merge of two parties (a row of ``merges``)."""

    id: uuid.UUID
    party_id: uuid.UUID
    merged_party_id: uuid.UUID
    undone_at: datetime | None


@dataclass(frozen=True)
class MergeEffect:
    """What a merge changed, for its undo (see ``orm.merge_effects``)."""

    kind: str  # fold | contact | ref | verified
    key: str
    case_id: uuid.UUID | None
    detail: str | None


def fold_effects(
    case_id: uuid.UUID,
    into: uuid.UUID,
    status_before: str,
    moved_contacts: Iterable[uuid.UUID],
    moved_refs: Iterable[str],
) -> list[dict[str, Any]]:
    """What folding a case notes for the merge's undo (see ``orm.merge_effects``)."""
    effects = [{"kind": "fold", "key": str(case_id), "case_id": into, "detail": status_before}]
    effects += [{"kind": "contact", "key": str(m)} for m in moved_contacts]
    effects += [{"kind": "ref", "key": r} for r in moved_refs]
    return effects


def folded_case(into: uuid.UUID, *, result: str, now: datetime) -> dict[str, Any]:
    """The columns of a case folded into another: closed, with the result that says where."""
    return {
        "status": CaseStatus.CLOSED.value,
        "result": result,
        "closed_at": now,
        "last_activity_at": now,
        "merged_into": into,
    }


def case_row(case: Case, due_at: datetime | None) -> dict[str, Any]:
    """The ``cases`` row of a new case."""
    return {
        "id": case.id,
        "number": case.number,
        "party_id": case.party_id,
        "product": case.product,
        "confidential": case.confidential,
        "status": case.status,
        "owner_team": case.owner_team,
        "handover_count": 0,
        "opened_at": case.opened_at,
        "last_activity_at": case.last_activity_at,
        "due_at": due_at,
        "establishment": case.establishment,
    }


def contact_row(
    message: InboundMessage, case_id: uuid.UUID, referenced: uuid.UUID | None
) -> dict[str, Any]:
    """The ``contacts`` row of a routed message (its channel's message id threads replies)."""
    own_id = message.channel_message_id
    return {
        "message_id": message.message_id,
        "case_id": case_id,
        "referenced_case_id": referenced,
        "channel": message.channel.value,
        # Longer than any real Message-ID (RFC 5322 lines stop at 998): not kept, not a failure.
        "channel_message_id": own_id if own_id is None or len(own_id) <= 1000 else None,
        "received_at": message.received_at,
    }


# A new identifier of a party: the party, the identifier, the message that brought it.
NewIdentifier = tuple[uuid.UUID, SenderIdentifier, uuid.UUID | None]


@dataclass(frozen=True)
class ContactPreferences:
    """A party's reply channel when staff name none, and the channels it opted out of."""

    preferred_channel: str | None = None
    opted_out: frozenset[str] = frozenset()


class RouterStore(Protocol):
    """The router's state: parties and their identifiers, suggested links, merges, cases,
    contacts, thread references, case numbers, and the outbox. Every call runs in the
    caller's transaction; ``lock_*`` calls row-lock (where the backend can) until commit."""

    # --- parties -------------------------------------------------------------------
    async def holdings(self, identifiers: Iterable[SenderIdentifier]) -> list[Holding]:
        """Every party link to any of these identifiers, merged parties resolved."""

    async def parties_by_origin(self, origins: Iterable[str]) -> dict[str, uuid.UUID]:
        """The (surviving) party each provisional-party address created."""

    async def survivor(self, party_id: uuid.UUID) -> uuid.UUID:
        """Follow merges to the party that represents this person now."""

    async def survivors(self, party_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """``survivor`` of each known party."""

    async def unmerged_provisional(self, party_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Those of ``party_ids`` that are provisional and not merged into another party."""

    async def lock_parties(self, party_ids: list[uuid.UUID]) -> dict[uuid.UUID, Party]:
        """Row-lock the known parties, in id order (replicas never deadlock on them)."""

    async def lock_party(self, party_id: uuid.UUID) -> Party:
        """Row-lock one party; LookupError if there is none."""

    async def families(self, party_ids: list[uuid.UUID]) -> dict[uuid.UUID, frozenset[uuid.UUID]]:
        """Each party with every party (transitively) merged into it."""

    async def party_exists(self, party_id: uuid.UUID) -> bool: ...

    async def is_provisional(self, party_id: uuid.UUID) -> bool: ...

    async def identifiers_of(self, party_id: uuid.UUID) -> list[Holding]: ...

    async def strongly_held_elsewhere(
        self, kind: IdentifierKind, value: str, party_id: uuid.UUID
    ) -> bool:
        """Whether another party holds this identifier above ``claimed``."""

    async def insert_parties(self, rows: list[dict[str, Any]]) -> None:
        """New parties: id, provisional, display_name, origin, version, created_at."""

    async def insert_identifiers(self, items: list[NewIdentifier], *, now: datetime) -> None: ...

    async def set_merged_into(self, party_id: uuid.UUID, survivor: uuid.UUID | None) -> None:
        """Merge a party into ``survivor`` (its origin is forgotten), or undo that (None)."""

    async def verify_identifier(
        self, party_id: uuid.UUID, kind: IdentifierKind, value: str, now: datetime
    ) -> uuid.UUID:
        """The party now holds the address verified (a staff decision); returns the row id."""

    async def remove_identifier(self, row_id: uuid.UUID) -> Holding | None:
        """Delete an identifier row; returns what it held (None if it was gone already)."""

    # --- suggested links and merges ---------------------------------------------------
    async def insert_suggestions(self, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
        """Insert suggested links; returns the ids of those whose pair was not suggested
        before (one suggestion per pair, ever)."""

    async def suggestion(self, suggestion_id: uuid.UUID) -> Suggestion | None:
        """The suggestion, row-locked."""

    async def decide_suggestion(
        self, suggestion_id: uuid.UUID, *, confirmed: bool, by: str, now: datetime
    ) -> None: ...

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
    ) -> None: ...

    async def merge(self, merge_id: uuid.UUID) -> Merge | None:
        """The merge, row-locked."""

    async def undo_merge(
        self, merge_id: uuid.UUID, *, by: str, reason: str, now: datetime
    ) -> None: ...

    async def record_merge_effects(
        self, merge_id: uuid.UUID, effects: list[dict[str, Any]], *, case_id: uuid.UUID | None
    ) -> None:
        """Effects as dicts of kind, key and optionally case_id and detail."""

    async def merge_effects_of(self, merge_id: uuid.UUID) -> list[MergeEffect]: ...

    # --- cases ----------------------------------------------------------------------
    async def case(self, case_id: uuid.UUID, *, lock: bool = False) -> Case | None: ...

    async def cases_of(
        self, party_ids: Iterable[uuid.UUID], *, open_only: bool = False
    ) -> list[Case]: ...

    async def cases_by_numbers(self, numbers: Iterable[str]) -> list[Case]: ...

    async def cases_by_refs(self, refs: Iterable[str]) -> dict[str, Case]:
        """The case each known thread reference is tied to."""

    async def final_case(self, case_id: uuid.UUID) -> uuid.UUID:
        """Follow folds to the case that holds a folded case's contacts."""

    async def next_case_numbers(self, year: int, count: int) -> list[str]:
        """``count`` consecutive numbers of the year's gapless counter, which stays locked
        until commit (a rolled-back batch gives its numbers back)."""

    async def insert_cases(self, new: list[Case], due: dict[uuid.UUID, datetime | None]) -> None:
        """New cases (numbered), with their due dates by case id."""

    async def touch_cases(self, case_ids: Iterable[uuid.UUID], now: datetime) -> None:
        """Set the cases' last activity."""

    async def classify_cases(self, classified: dict[uuid.UUID, tuple[str | None, bool]]) -> None:
        """Set (product, confidential) of each case."""

    async def update_case(self, case_id: uuid.UUID, **values: Any) -> None:
        """Set columns of ``cases`` (status, owner_team, result, closed_at, ...)."""

    async def insert_thread_refs(self, refs: dict[str, uuid.UUID]) -> None:
        """Tie references to cases; a reference already tied to a case stays with it."""

    async def insert_contacts(self, rows: list[dict[str, Any]]) -> None:
        """Contacts (message_id, case_id, referenced_case_id; optionally channel,
        channel_message_id, received_at: ``contact_row``); a known message is kept."""

    async def contacts_of(self, case_id: uuid.UUID) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
        """(message id, referenced case id) of every contact of the case."""

    async def channel_message_ids(self, case_id: uuid.UUID, channel: str, limit: int) -> list[str]:
        """The channel's own ids of the case's contacts on ``channel`` (e-mail Message-IDs),
        the last received first, at most ``limit``."""

    # --- replies --------------------------------------------------------------------
    async def insert_reply(
        self,
        reply_id: uuid.UUID,
        *,
        case_id: uuid.UUID,
        channel: str,
        requested_at: datetime,
        request: dict[str, Any] | None = None,
    ) -> None: ...

    async def reply_case(self, reply_id: uuid.UUID) -> uuid.UUID | None:
        """The case a reply was asked on (None: not a reply of this router)."""

    async def reply_request(self, reply_id: uuid.UUID) -> dict[str, Any] | None:
        """What the reply was carried out from (its ``SendReply`` as JSON and the recipient's
        trust), for a fallback; None: unknown, or asked before revision 0006."""

    async def contact_preferences(self, party_id: uuid.UUID) -> ContactPreferences:
        """The party's own preferences (none set: no preference, nothing opted out)."""

    async def set_contact_preferences(
        self, party_id: uuid.UUID, prefs: ContactPreferences, now: datetime
    ) -> None: ...

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
        """Fold a case into another (contacts and references move, it closes), noting in
        the merge's effects what moved."""

    async def unfold_case(
        self, case_id: uuid.UUID, *, message_ids: list[uuid.UUID], refs: list[str], status: str
    ) -> None:
        """Undo a fold: these contacts and references come back, the case reopens."""

    async def participants(self, case_id: uuid.UUID) -> set[str]: ...

    async def add_participant(self, case_id: uuid.UUID, team: str) -> None: ...

    async def remove_participant(self, case_id: uuid.UUID, team: str) -> None: ...

    # --- events and transactions ---------------------------------------------------------
    async def write_events(
        self, versions: dict[uuid.UUID, int], rows: list[dict[str, Any]]
    ) -> None:
        """The parties' last ``sequence`` numbers and the events' outbox rows, in order."""

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """Everything written inside is undone if the block raises."""
