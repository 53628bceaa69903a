"""What a command handler works with: the store, the routing file, the events it records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.router.context import RouterContext
from services.router.domain.model import Case
from services.router.history import History
from services.router.routing.rules import Routing
from services.router.store.protocol import RouterStore
from shared.contracts import CaseStatus, Event
from shared.settings import PLACEHOLDER_SECRET


class Rejected(Exception):  # noqa: N818 - a domain outcome, not an error of the program
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class CommandContext:
    store: RouterStore
    routing: Routing
    history: History
    now: datetime
    # Replies (issue #17): where send requests go, and the key of their tokens.
    outbound_topic: str = "omni.outbound.v1"
    reply_token_key: bytes = PLACEHOLDER_SECRET.encode()

    @classmethod
    def of(
        cls, store: RouterStore, ctx: RouterContext, history: History, now: datetime
    ) -> CommandContext:
        return cls(
            store,
            ctx.routing,
            history,
            now,
            outbound_topic=ctx.outbound_topic,
            reply_token_key=ctx.reply_token_key,
        )

    def team(self, team: str) -> str:
        if team not in self.routing.teams:
            raise Rejected(f"team '{team}' does not exist")
        return team

    async def open_case(self, case_id: uuid.UUID) -> Case:
        case = await self.case(case_id)
        if case.status == CaseStatus.CLOSED:
            raise Rejected(f"case {case.number} is closed")
        return case

    async def case(self, case_id: uuid.UUID) -> Case:
        case = await self.store.case(case_id, lock=True)
        if case is None:
            raise Rejected("unknown case")
        return case

    async def record_on_case(self, case: Case, payload: Event) -> None:
        party = await self.store.lock_party(case.party_id)
        self.history.record(party, payload, aggregate="case")
