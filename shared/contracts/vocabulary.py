"""The closed vocabularies every service spells the same way.

A case's status is written into events, read models, the console and the import; it is
spelled here once. ``StrEnum`` members are their values: ``CaseStatus.CLOSED ==
"afgehandeld"``, so stored rows and events keep the words they always had.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class CaseStatus(StrEnum):
    """Where a case stands (Dutch, as residents and staff read it)."""

    OPEN = "open"
    IN_PROGRESS = "in behandeling"
    WAITING_FOR_RESIDENT = "wacht op inwoner"
    CLOSED = "afgehandeld"


# Every status but closed: what a case can be while a team works on it.
OPEN_STATUSES: tuple[CaseStatus, ...] = tuple(s for s in CaseStatus if s is not CaseStatus.CLOSED)
# What a status change may set (a case is closed with its result: CloseCase). A Literal so
# the JSON schema of the commands stays a plain enum of strings.
OpenStatus = Literal["open", "in behandeling", "wacht op inwoner"]
