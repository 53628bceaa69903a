"""The resident's contact preferences: read from the projection staff read, changed through
the very command staff send (``PUT /v1/parties/{id}/contact-preferences``, commands/table.py),
so the router records it and outbound respects it exactly as when staff set it."""

from __future__ import annotations

from fastapi import Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.auth import Resident
from services.caseview.commands.models import CommandAccepted
from services.caseview.commands.routes import send_command
from services.caseview.commands.table import COMMANDS, Sender
from services.caseview.parties import preferences
from services.caseview.resident.identity import MyParties
from services.caseview.resident.models import MyPreferences, MyPreferencesRequest
from shared.http import ProblemError
from shared.ids import new_id

RESIDENT_REASON = "Gewijzigd door de inwoner in Mijn zaken"
SET_PREFERENCES = next(c for c in COMMANDS if c.operation_id == "setContactPreferences")


async def read(session: AsyncSession, parties: MyParties) -> MyPreferences:
    """The first party's (a resident has one, unless two records were never merged: a change
    sets them all alike)."""
    found = await preferences.read(session, parties.roots[0]) if parties.roots else None
    if found is None:
        return MyPreferences(preferred_channel=None, opted_out=[], changed_at=None)
    return MyPreferences(
        preferred_channel=found.preferred_channel,
        opted_out=found.opted_out,
        changed_at=found.changed_at,
    )


async def change(
    request: Request,
    response: Response,
    session: AsyncSession,
    who: Resident,
    parties: MyParties,
    wish: MyPreferencesRequest,
) -> CommandAccepted:
    """One command per party of the resident (the staff command's checks: an unchanged set is
    a 409); the first command's acceptance. The outcome shows in GET contact-preferences (the
    command status route is staff's)."""
    try:
        body = preferences.ContactPreferencesRequest(
            preferred_channel=wish.preferred_channel,
            opted_out=wish.opted_out,
            reason=RESIDENT_REASON,
        )
    except ValidationError as exc:
        raise ProblemError(
            422, "Invalid preferences", "Een voorkeurskanaal kan niet ook uitgezet zijn."
        ) from exc
    sent: list[CommandAccepted] = []
    unchanged: ProblemError | None = None
    for root in parties.roots:
        sender = Sender(request, session, who.as_principal(), root, None, root)
        try:
            for check in SET_PREFERENCES.checks:
                await check(sender, body)
        except ProblemError as exc:
            unchanged = exc
            continue
        command = SET_PREFERENCES.build(sender, body)
        sent.append(await send_command(sender, response, command, new_id()))
    if not sent:
        raise unchanged or ProblemError(404, "Not found", "Wij kennen u nog niet.")
    del response.headers["Location"]
    return sent[0]
