"""Who sent this, and which case does it belong to? Pure decisions, no I/O.

The trust ladder (design §4): a message joins an existing party automatically
only through an authenticated or verified identifier. An unknown sender becomes
a provisional party; the same unknown address writing again reaches that same
provisional party (its *origin*), and nothing more.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.contracts import IdentifierKind, InboundMessage, SenderIdentifier, Trust

STRONG = (Trust.AUTHENTICATED, Trust.VERIFIED)
# Addresses a provisional party can be recognised by when the same sender writes again.
ORIGIN_KINDS = (IdentifierKind.EMAIL, IdentifierKind.PHONE, IdentifierKind.CHAT)

OPEN_STATUSES = ("open", "in behandeling", "wacht op inwoner")


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


def strong_identifiers(message: InboundMessage) -> list[SenderIdentifier]:
    return [s for s in message.sender if s.trust in STRONG]


def origin_key(message: InboundMessage) -> str | None:
    """The address an unknown sender is recognised by next time, e.g. ``email:a@b.nl``."""
    for kind in ORIGIN_KINDS:
        for s in message.sender:
            if s.kind == kind:
                return f"{kind}:{s.value}"
    return None


@dataclass(frozen=True)
class CaseMatch:
    case: Case | None  # None: open a new case
    rule: str
    detail: str


def match_case(message: InboundMessage, party_cases: list[Case]) -> CaseMatch:
    """Design §5, in order: explicit case number of the same party, open case for the
    same product, otherwise a new case. (Thread references arrive with issue #4.)"""
    if message.case_number_hint:
        for case in party_cases:
            if case.number == message.case_number_hint:
                return CaseMatch(case, "case-number", "case number quoted by the same party")
    open_cases = sorted(
        (c for c in party_cases if c.status in OPEN_STATUSES and c.product == message.product_hint),
        key=lambda c: c.opened_at,
        reverse=True,
    )
    if open_cases:
        return CaseMatch(
            open_cases[0], "open-case-same-product", "open case of the same party and product"
        )
    return CaseMatch(None, "new-case", "no matching case; a new case was opened")


def case_number(year: int, serial: int) -> str:
    """``ZAAK-<year>-<10 digits>``."""
    if not 0 < serial < 10**10:
        raise ValueError("case serial out of range")
    return f"ZAAK-{year}-{serial:010d}"
