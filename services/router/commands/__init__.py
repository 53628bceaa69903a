"""Staff commands from ``omni.commands.v1``: the router is the single writer of case and party
state, so it carries each out as timeline events, or answers ``command.rejected`` with a
reason a person can act on. An invalid command never crashes the consumer."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.commands import cases, merges, preferences, replies
from services.router.commands.context import CommandContext, Rejected
from services.router.context import RouterContext
from services.router.history import History
from services.router.store import open_store
from services.router.store.protocol import RouterStore
from shared.contracts import CommandRejected, Event
from shared.contracts import commands as c
from shared.contracts.text import scrubbed
from shared.envelope import CloudEvent

__all__ = ["BY_TYPE", "HANDLERS", "CommandContext", "Rejected", "carry_out", "handle_command"]

REJECTED = Counter("eenloket_router_commands_rejected_total", "Commands rejected", ["command"])

Handler = Callable[[Any, CommandContext], Awaitable[None]]

HANDLERS: dict[type[Event], Handler] = {
    c.HandOverCase: cases.hand_over,
    c.AddParticipant: cases.add_participant,
    c.RemoveParticipant: cases.remove_participant,
    c.ChangeStatus: cases.change_status,
    c.CloseCase: cases.close,
    c.AddNote: cases.add_note,
    c.RegisterOutboundContact: cases.register_outbound,
    c.DecideLink: merges.decide_link,
    c.MergeParties: merges.merge,
    c.UnmergeParties: merges.unmerge,
    c.SendReply: replies.send_reply,
    c.SetContactPreferences: preferences.set_contact_preferences,
}
BY_TYPE: dict[str, type[Event]] = {model.TYPE: model for model in HANDLERS}


async def handle_command(session: AsyncSession, event: CloudEvent, ctx: RouterContext) -> None:
    """Carry out one command in the session's transaction."""
    await carry_out(await open_store(session), event, ctx)


async def carry_out(
    store: RouterStore, event: CloudEvent, ctx: RouterContext, now: datetime | None = None
) -> None:
    """Carry out one command, or publish why not. A malformed command is rejected too; a
    rejected command leaves nothing of what it began (it ran in a savepoint)."""
    now = now or datetime.now(UTC)
    model = BY_TYPE[event.type]
    try:
        command = model.model_validate(event.data)
    except ValueError as exc:
        await _reject(store, ctx, event, f"invalid command: {_first_error(exc)}", None, now)
        return
    history = History(source=ctx.source, topic=ctx.timeline_topic, cause=event.id, now=now)
    try:
        async with store.savepoint():
            await HANDLERS[model](command, CommandContext.of(store, ctx, history, now))
            await history.save(store)
    except Rejected as rejected:
        await _reject(store, ctx, event, rejected.reason, command, now)


async def _reject(
    store: RouterStore,
    ctx: RouterContext,
    event: CloudEvent,
    reason: str,
    command: Event | None,
    now: datetime,
) -> None:
    REJECTED.labels(event.type.removeprefix("nl.eenloket.")).inc()
    history = History(source=ctx.source, topic=ctx.timeline_topic, cause=event.id, now=now)
    case_id = getattr(command, "case_id", None)
    case = await store.case(case_id) if isinstance(case_id, uuid.UUID) else None
    party_id = case.party_id if case else getattr(command, "party_id", None)
    if isinstance(party_id, uuid.UUID) and not await store.party_exists(party_id):
        party_id = None
    payload = CommandRejected(
        command_id=event.id,
        command_type=event.type,
        party_id=party_id,
        case_id=case.id if case else None,
        # A reason may quote the command: it must never make the rejection unstorable.
        reason=scrubbed(reason),
        by=getattr(command, "by", None),
        at=now,
    )
    if party_id is not None:
        history.record(await store.lock_party(party_id), payload, aggregate="command")
    else:
        history.record_unowned(event.id, payload, aggregate="command")
    await history.save(store)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors(include_input=False, include_url=False)[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)
