"""Parties and cases, and which case a message belongs to. Pure decisions, no I/O."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.contracts import OPEN_STATUSES, InboundMessage

CASE_NUMBER = re.compile(r"\bZAAK-\d{4}-\d{10}\b")
# Thread references of contacts imported from an old CRM: "import:<old case number>".
IMPORT_THREAD_PREFIX = "import:"


@dataclass(frozen=True)
class Party:
    id: uuid.UUID
    provisional: bool
    version: int


@dataclass(frozen=True)
class Case:
    id: uuid.UUID
    number: str
    party_id: uuid.UUID
    product: str | None
    status: str
    owner_team: str
    opened_at: datetime
    last_activity_at: datetime
    confidential: bool = False
    handover_count: int = 0
    establishment: str | None = None  # a business's vestigingsnummer, if the case is about one

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


def quoted_case_number(message: InboundMessage) -> str | None:
    """The case number the sender gave: the form field first, else one in subject or text."""
    if message.case_number_hint:
        return message.case_number_hint
    for text in (message.subject or "", message.text):
        found = CASE_NUMBER.search(text)
        if found:
            return found.group(0)
    return None


def imported_case(message: InboundMessage) -> bool:
    """A contact of an old CRM's case (bulk import): its old case stays a case of its own,
    never folded into another open case by the recency/product rules."""
    return any(ref.startswith(IMPORT_THREAD_PREFIX) for ref in message.thread_refs)


def owner_for_new_case(message: InboundMessage, routed: str, teams: Iterable[str]) -> str:
    """The owning team of a case this message opens: the old CRM's team of an imported
    contact when the routing file knows that team, otherwise what routing decided."""
    hint = message.owner_team_hint
    return hint if hint is not None and hint in set(teams) else routed


@dataclass(frozen=True)
class CaseMatch:
    case: Case | None  # None: open a new case
    rule: str
    detail: str
    flags: tuple[tuple[str, str], ...] = ()
    # Another party's case the message pointed at (quoted number or thread): if a person
    # later confirms the sender is that party, the contact moves there (see commands/merges.py).
    referenced: uuid.UUID | None = None


def match_case(
    *,
    party_ids: frozenset[uuid.UUID],
    quoted: Case | None,
    quoted_number: str | None,
    threaded: list[Case],
    party_cases: list[Case],
    product: str | None,
    now: datetime,
    window_days: int,
    establishment: str | None = None,
    own_case: bool = False,
    follow_up: bool = True,
    candidates: tuple[str, ...] = (),
) -> CaseMatch:
    """Design §5, in order: the quoted case number of the same party; a thread reference
    (e-mail chain, chat session, app conversation, call-back); an open case of the same
    party and product active within the window; otherwise a new case.

    ``party_ids``: the party and every party merged into it. A case number or thread
    of somebody else is flagged for a person, never linked. ``own_case``: the message
    belongs to a case of its own unless its thread is known (an imported old case,
    ``imported_case``), so the recency/product rules do not apply.

    Without a recognised ``product``: the open case of one of the ``candidates`` (the
    products the classifier was not sure enough of), else, when the message reads as a
    ``follow_up`` ("zoals ik eerder schreef", a reply), the most recently active open case;
    a message that names another product never joins a case of a different one.
    """
    flags: list[tuple[str, str]] = []
    referenced: uuid.UUID | None = None
    if quoted is not None:
        if quoted.party_id in party_ids:
            return CaseMatch(
                quoted, "case-number", f"case number {quoted.number} of the same party"
            )
        flags.append(("case-number-of-other-party", f"{quoted.number} belongs to another party"))
        referenced = quoted.id
    elif quoted_number is not None:
        flags.append(("unknown-case-number", f"{quoted_number} is not a known case"))

    own_threads = [c for c in threaded if c.party_id in party_ids]
    if own_threads:
        case = max(own_threads, key=lambda c: c.last_activity_at)
        return CaseMatch(case, "thread", "reply in a conversation of this case", tuple(flags))
    if threaded:
        flags.append(("thread-of-other-party", "replies in a conversation of another party's case"))
        referenced = referenced or max(threaded, key=lambda c: c.last_activity_at).id

    if own_case:
        return CaseMatch(
            None,
            "new-case",
            "the first contact of an imported case; a new case was opened",
            tuple(flags),
            referenced,
        )

    window = timedelta(days=window_days)
    # A business's establishments are separate matters: only cases of the same one.
    recent = [
        c
        for c in party_cases
        if c.is_open and now - c.last_activity_at <= window and c.establishment == establishment
    ]
    within = f"active within {window_days} days"
    if product is None:
        # No confident product: the open case of a candidate; else, when it refers back
        # ("Nog een vraag…"), the most recent open case rather than a new case per remark.
        likely = [c for c in recent if c.product in candidates]
        followed = recent if follow_up else []
        rules = [
            (likely, "open-case-candidate", "no confident product; an open case of a candidate"),
            (
                followed,
                "open-case-recent",
                "no product recognised and it refers back; the party's most recent open case",
            ),
        ]
    else:
        same = [c for c in recent if c.product == product]
        rules = [(same, "open-case-same-product", f"open case of the same party for {product}")]
    for cases, rule, detail in rules:
        if cases:
            case = max(cases, key=lambda c: c.last_activity_at)
            return CaseMatch(case, rule, f"{detail} ({within})", tuple(flags), referenced)
    return CaseMatch(
        None, "new-case", "no matching case; a new case was opened", tuple(flags), referenced
    )


def case_number(year: int, serial: int) -> str:
    """``ZAAK-<year>-<10 digits>``."""
    if not 0 < serial < 10**10:
        raise ValueError("case serial out of range")
    return f"ZAAK-{year}-{serial:010d}"
