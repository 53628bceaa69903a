"""The staff command routes, made from ``table.COMMANDS``, and the command status route.

Every command route does the same: authorize (role, acting team) -> the row's checks ->
build the command -> note it as accepted -> publish -> 202 with a Location.
"""

from __future__ import annotations

import inspect
import logging
import re
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.access_log.audited import Audited, Need, NotFound, Target
from services.caseview.auth import ACT_ON_CASES, DECIDE_IDENTITY, Principal
from services.caseview.commands import publish, status
from services.caseview.commands.models import COMMAND_RESPONSES, CommandAccepted, IdempotencyKey
from services.caseview.commands.table import COMMANDS, CommandRoute, Sender
from services.caseview.web import PrincipalDep, SessionDep, now, responses, settings
from shared.contracts import Event
from shared.http import ProblemError
from shared.kafka.producer import BrokerUnavailableError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1")


def _endpoint(route: CommandRoute) -> Any:
    (target,) = re.findall(r"\{(\w+)\}", route.path)

    async def endpoint(
        request: Request,
        response: Response,
        body: Any,
        principal: Principal,
        session: AsyncSession,
        idempotency_key: str | None = None,
        **ids: uuid.UUID,
    ) -> CommandAccepted:
        sender = await route.authorize(request, session, principal, ids[target])
        for check in route.checks:
            await check(sender, body)
        command_id = publish.command_id(principal, idempotency_key)
        return await send_command(sender, response, route.build(sender, body), command_id)

    # What FastAPI reads: the path's id, the body model, the caller, the Idempotency-Key.
    p = inspect.Parameter.POSITIONAL_OR_KEYWORD
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("request", p, annotation=Request),
            inspect.Parameter("response", p, annotation=Response),
            inspect.Parameter(target, p, annotation=uuid.UUID),
            inspect.Parameter("body", p, annotation=route.body),
            inspect.Parameter("principal", p, annotation=PrincipalDep),
            inspect.Parameter("session", p, annotation=SessionDep),
            inspect.Parameter("idempotency_key", p, annotation=IdempotencyKey, default=None),
        ],
        return_annotation=CommandAccepted,
    )
    endpoint.__name__ = route.operation_id
    return endpoint


for _route in COMMANDS:
    router.add_api_route(
        _route.path,
        _endpoint(_route),
        methods=[_route.method],
        tags=["commands"],
        operation_id=_route.operation_id,
        status_code=202,
        response_model=CommandAccepted,
        responses=COMMAND_RESPONSES,
        summary=_route.summary,
    )


async def send_command(
    sender: Sender, response: Response, command: Event, command_id: uuid.UUID
) -> CommandAccepted:
    """The one way a command leaves caseview (the table's routes and the reply route)."""
    s = settings(sender.request)
    session, principal = sender.session, sender.principal
    case_id = getattr(command, "case_id", None)
    # Noted before publishing (so its status is readable the moment the 202 is), and the
    # read transaction ends here before waiting for Kafka (on SQLite it holds the lock).
    new = await status.record_accepted(
        session,
        command_id=command_id,
        type_=command.TYPE,
        user=principal.user,
        team=sender.team,
        case_id=case_id,
        party_id=None if case_id is not None else sender.key,
        now=now(),
    )
    await session.commit()
    try:
        await publish.send(
            sender.request.app.state.producer,
            s.topic_commands,
            source=s.source("eenloket-caseview"),
            command=command,
            command_id=command_id,
            key=sender.key,
            timeout=s.command_publish_timeout,
        )
    except BrokerUnavailableError as exc:
        if new:
            await _forget(session, command_id)
        raise ProblemError(
            503,
            "Message queue unavailable",
            "De opdracht is niet aangenomen: de berichtenwachtrij is niet bereikbaar. "
            "Probeer het na de Retry-After-tijd opnieuw.",
            headers={"Retry-After": str(s.retry_after_seconds)},
        ) from exc
    response.headers["Location"] = f"/v1/commands/{command_id}"
    return CommandAccepted(command_id=command_id, type=command.TYPE)


async def _forget(session: AsyncSession, command_id: uuid.UUID) -> None:
    try:
        await status.forget(session, command_id)
        await session.commit()
    except SQLAlchemyError:
        # The answer is a 503 either way; the row says "accepted" for a command that may
        # never arrive, and a retry with the same Idempotency-Key is the same command.
        log.warning("could not forget an unpublished command", extra={"error_type": "db"})


@router.get(
    "/commands/{command_id}",
    tags=["commands"],
    operation_id="getCommandStatus",
    response_model=status.CommandStatus,
    responses=responses(404),
    summary="What became of a staff command you sent: accepted, applied, or rejected and why",
)
async def get_command_status(command_id: uuid.UUID, read: Audited) -> status.CommandStatus:
    """Need-to-know: the sender and the team they acted for. Anyone else gets 404, as for
    an id that does not exist (a command's existence is not theirs to learn)."""

    async def find() -> status.CommandStatus | None:
        found = await status.read(read.session, command_id)
        if found is None or not found.readable_by(read.principal.user, read.principal.teams):
            return None
        return found.view

    return await read(
        Need(ACT_ON_CASES | DECIDE_IDENTITY, detail="Uw rol geeft geen opdrachten."),
        Target(),
        find,
        not_found=NotFound(
            "Command not found", "Opdracht niet gevonden (of niet van u of uw team)."
        ),
        logged=lambda view: [
            Target(party_id=view.party_id, case_id=view.case_id, detail="command status")
        ],
    )
