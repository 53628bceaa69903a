"""The audited read: every read of party data goes guard -> lookup -> not-found -> log entry,
in that order, through ``AuditedRead``; no route writes its own log call or 404.

- guard: the caller's roles (``Need``); a refused read that names a party or case is logged
  as ``denied`` before the 403;
- lookup: the route's own query (``find``); ``None`` means not found: a 404 with the route's
  ``NotFound`` problem, logged as ``not-found`` when the read names a party or case;
- log: one entry per party or case the answer shows (``logged``; several for a search), or,
  when it shows none, one ``not-found`` entry for what was asked. The entry is committed
  before the answer leaves, together with concurrent reads' entries (group.py: group
  commit; record.py: no log, no data).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.access_log import record
from services.caseview.access_log.group import group_log
from services.caseview.access_log.ldv import emitter
from services.caseview.auth import Principal, Role
from services.caseview.web import PrincipalDep, PurposeDep, SessionDep, endpoint, settings
from shared.http import ProblemError

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """What a read is about, as its access-log entry names it."""

    party_id: uuid.UUID | None = None
    case_id: uuid.UUID | None = None
    team: str | None = None
    detail: str | None = None  # never a searched value: "search by bsn", not the BSN

    @property
    def names_data(self) -> bool:
        return self.party_id is not None or self.case_id is not None

    def entry(self, endpoint: str, outcome: record.Outcome = "ok") -> record.Access:
        return record.Access(
            endpoint,
            party_id=self.party_id,
            case_id=self.case_id,
            team=self.team,
            outcome=outcome,
            detail=self.detail,
        )


@dataclass(frozen=True)
class Need:
    """Who may read: a token with one of ``roles`` (and, with ``own_team``, only the lists
    of a team the caller belongs to)."""

    roles: frozenset[Role]
    title: str = "Not allowed"
    detail: str = "Your roles do not allow this."
    own_team: bool = False

    def allows(self, principal: Principal, target: Target) -> bool:
        if not principal.has_any(self.roles):
            return False
        return not self.own_team or target.team in principal.teams


@dataclass(frozen=True)
class NotFound:
    title: str
    detail: str | None = None


@dataclass(frozen=True)
class AuditedRead:
    """One request's read: its session, caller and stated purpose (``X-Purpose``)."""

    request: Request
    session: AsyncSession
    principal: Principal
    purpose: str | None

    async def __call__(
        self,
        need: Need,
        target: Target,
        find: Callable[[], Awaitable[T | None]],
        *,
        not_found: NotFound | None = None,
        logged: Callable[[T], Sequence[Target]] | None = None,
    ) -> T:
        """Guard, ``find``, 404 (``not_found``), log what ``logged`` names (default: the
        ``target``), and return what ``find`` found."""
        route = endpoint(self.request)
        if not need.allows(self.principal, target):
            if target.names_data:
                await self._log([target.entry(route, "denied")])
            raise ProblemError(403, need.title, need.detail)
        found = await find()
        if found is None:
            if target.names_data:
                await self._log([target.entry(route, "not-found")])
            missing = not_found or NotFound("Not found")
            raise ProblemError(404, missing.title, missing.detail)
        shown = [target] if logged is None else logged(found)
        await self._log(
            [t.entry(route) for t in shown] if shown else [target.entry(route, "not-found")]
        )
        return found

    async def _log(self, accesses: Sequence[record.Access]) -> None:
        ldv = emitter(self.request.app.state, settings(self.request))
        log = group_log(self.request.app.state)
        await record.record(
            self.session, self.principal, accesses, purpose=self.purpose, ldv=ldv, log=log
        )


async def audited_read(
    request: Request, principal: PrincipalDep, session: SessionDep, purpose: PurposeDep = None
) -> AuditedRead:
    return AuditedRead(request, session, principal, purpose)


Audited = Annotated[AuditedRead, Depends(audited_read)]
