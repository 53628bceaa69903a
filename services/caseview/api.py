"""Caseview's HTTP API (``/v1``): the unified history, live updates and staff commands.

Routes translate HTTP into a query (queries.py) or a command (commands.py).
Order of checks everywhere: no valid token -> 401; a role that may not use the
endpoint -> 403 (before any lookup, so a 404 never tells an unauthorised caller
whether a party exists); unknown id -> 404. Reads of party data are written to
the access log before the answer leaves (audit.py).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview import (
    audit,
    command_status,
    commands,
    live,
    messages,
    preconditions,
    queries,
)
from services.caseview.auth import (
    ACT_ON_CASES,
    AUDIT,
    DECIDE_IDENTITY,
    READ_HISTORY,
    InvalidTokenError,
    Principal,
    Role,
)
from services.caseview.config import CaseviewSettings
from shared.contracts import Channel, Event
from shared.contracts import commands as cmd
from shared.contracts.text import TEAM_MAX, LongText, OptionalReason, Reason, storable
from shared.http import PROBLEM_JSON, PROBLEM_RESPONSES, Problem, ProblemError
from shared.kafka.producer import BrokerUnavailableError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1")


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": description}


RESPONSES: dict[int | str, dict[str, Any]] = {
    400: PROBLEM_RESPONSES[400],
    401: _problem("No valid bearer token"),
    403: _problem("The token does not allow this"),
    404: _problem("Not found (or not yet projected)"),
    409: _problem("The request contradicts the current state"),
    422: PROBLEM_RESPONSES[422],
    503: PROBLEM_RESPONSES[503],
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: RESPONSES[c] for c in sorted({400, 401, 403, 422, *codes})}


SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "text/event-stream: one event per history entry; `id` is the "
        "resume point (send it back as Last-Event-ID), `event` the entry type, `data` "
        "a TimelineEntry as JSON.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}

# --- dependencies ----------------------------------------------------------------------

bearer = HTTPBearer(auto_error=False, description="OIDC access token (JWT) of the user")


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    challenge = {"WWW-Authenticate": 'Bearer realm="caseview"'}
    if credentials is None:
        raise ProblemError(
            401, "Authentication required", "Send an OIDC bearer token.", headers=challenge
        )
    try:
        principal: Principal = await request.app.state.tokens.validate(credentials.credentials)
    except InvalidTokenError as exc:
        raise ProblemError(
            401,
            "Invalid token",
            "The token is malformed, expired, or not issued for caseview.",
            headers={"WWW-Authenticate": 'Bearer realm="caseview", error="invalid_token"'},
        ) from exc
    return principal


SessionDep = Annotated[AsyncSession, Depends(get_session)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refuse it as input (422), not 500
PurposeDep = Annotated[
    str | None,
    Header(
        alias="X-Purpose",
        max_length=500,
        pattern=NO_NUL,
        description="Why you read this (doelbinding); stored in the access log.",
    ),
]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[
    str | None, Query(max_length=200, description="next_cursor of the previous page")
]
Team = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
LastEventId = Annotated[
    str | None,
    Header(alias="Last-Event-ID", max_length=20, description="Resume after this event id."),
]


def _settings(request: Request) -> CaseviewSettings:
    settings: CaseviewSettings = request.app.state.settings
    return settings


def _viewer(request: Request, principal: Principal) -> queries.Viewer:
    return queries.Viewer(
        teams=principal.teams,
        confidential_terms=tuple(_settings(request).confidential_products),
    )


def _endpoint(request: Request) -> str:
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"


async def _log(
    session: AsyncSession, principal: Principal, purpose: str | None, *accesses: audit.Access
) -> None:
    await audit.record(session, principal, accesses, purpose=purpose)


async def _guard(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    roles: frozenset[Role],
    purpose: str | None,
    **target: Any,
) -> None:
    """403 unless the token has one of ``roles``; a refused read of a party is logged too."""
    if principal.has_any(roles):
        return
    if target:
        await _log(
            session,
            principal,
            purpose,
            audit.Access(_endpoint(request), outcome="denied", **target),
        )
    raise ProblemError(403, "Not allowed", "Your roles do not allow this.")


def _before(cursor: str | None) -> queries.TimelineKey | None:
    if cursor is None:
        return None
    try:
        return queries.TimelineKey.decode(cursor)
    except ValueError as exc:
        raise ProblemError(
            400, "Invalid cursor", "Use 'next_cursor' from a previous page."
        ) from exc


def _when(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return queries.utc(value)
    except ValueError as exc:
        raise ProblemError(400, "Invalid time", "The time is out of range.") from exc


def _now() -> datetime:
    return datetime.now(UTC)


# --- finding parties -------------------------------------------------------------------


class PartySearch(BaseModel):
    """Find a party by one identifier, a case number, or the start of a name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    by: queries.SearchKind = Field(
        description="bsn, kvk, email, phone (any notation; NL by default), case_number, or "
        "name (prefix of any word, case- and accent-insensitive)"
    )
    value: str = Field(min_length=1, max_length=320, pattern=NO_NUL)
    limit: int = Field(default=20, ge=1, le=100)


@router.post(
    "/parties/search",
    tags=["parties"],
    operation_id="findParties",
    response_model=queries.PartyHits,
    responses=responses(),
    summary="Find a party (POST, so a BSN or address never appears in a URL or proxy log)",
)
async def find_parties(
    request: Request,
    search: Annotated[PartySearch, Body()],
    principal: PrincipalDep,
    session: SessionDep,
    purpose: PurposeDep = None,
) -> queries.PartyHits:
    await _guard(request, session, principal, READ_HISTORY, purpose)
    hits = await queries.find_parties(session, search.by, search.value, limit=search.limit)
    detail = f"search by {search.by}"
    accesses = [
        audit.Access(_endpoint(request), party_id=h.party_id, detail=detail) for h in hits.items
    ]
    await _log(
        session,
        principal,
        purpose,
        *(accesses or [audit.Access(_endpoint(request), outcome="not-found", detail=detail)]),
    )
    return hits


# --- parties ---------------------------------------------------------------------------


@router.get(
    "/parties/{party_id}",
    tags=["parties"],
    operation_id="getParty",
    response_model=queries.PartyView,
    responses=responses(404),
    summary="A party: identifiers with trust, suggested links, merges, open and closed cases",
)
async def get_party(
    request: Request,
    party_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    purpose: PurposeDep = None,
) -> queries.PartyView:
    await _guard(request, session, principal, READ_HISTORY, purpose, party_id=party_id)
    view = await queries.party_view(session, _viewer(request, principal), party_id, now=_now())
    if view is None:
        await _log(
            session,
            principal,
            purpose,
            audit.Access(_endpoint(request), party_id=party_id, outcome="not-found"),
        )
        raise ProblemError(404, "Party not found")
    await _log(session, principal, purpose, audit.Access(_endpoint(request), party_id=party_id))
    return view


@router.get(
    "/parties/{party_id}/timeline",
    tags=["parties"],
    operation_id="getPartyTimeline",
    response_model=queries.TimelinePage,
    responses=responses(400, 404),
    summary="A party's history across every channel and case, newest first",
)
async def party_timeline(
    request: Request,
    party_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    purpose: PurposeDep = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    channel: Annotated[list[Channel] | None, Query(max_length=7)] = None,
    type: Annotated[
        list[Annotated[str, Query(max_length=128, pattern=NO_NUL)]] | None, Query(max_length=20)
    ] = None,
    case_id: uuid.UUID | None = None,
    since: Annotated[AwareDatetime | None, Query(description="occurred at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="occurred before")] = None,
) -> queries.TimelinePage:
    await _guard(request, session, principal, READ_HISTORY, purpose, party_id=party_id)
    before = _before(cursor)
    located = await queries.locate(session, party_id)
    if located is None:
        await _log(
            session,
            principal,
            purpose,
            audit.Access(_endpoint(request), party_id=party_id, outcome="not-found"),
        )
        raise ProblemError(404, "Party not found")
    root, ids = located
    page = await queries.timeline(
        session,
        _viewer(request, principal),
        ids,
        root=root,
        limit=limit,
        before=before,
        filters=queries.TimelineFilter(
            channels=tuple(c.value for c in channel or ()),
            types=tuple(type or ()),
            case_id=case_id,
            since=_when(since),
            until=_when(until),
        ),
        count_cap=_settings(request).count_cap,
    )
    await _log(session, principal, purpose, audit.Access(_endpoint(request), party_id=party_id))
    return page


@router.get(
    "/parties/{party_id}/events",
    tags=["live"],
    operation_id="streamPartyEvents",
    response_class=StreamingResponse,
    responses={**SSE_RESPONSE, **responses(400, 404)},
    summary="Live updates of a party's history (Server-Sent Events)",
)
async def party_events(
    request: Request,
    party_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    purpose: PurposeDep = None,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    await _guard(request, session, principal, READ_HISTORY, purpose, party_id=party_id)
    start = await _start(session, last_event_id)
    root = await queries.resolve(session, party_id)
    if not await queries.party_exists(session, root):
        await _log(
            session,
            principal,
            purpose,
            audit.Access(_endpoint(request), party_id=party_id, outcome="not-found"),
        )
        raise ProblemError(404, "Party not found")
    viewer = _viewer(request, principal)

    async def fetch(s: AsyncSession, after: int, limit: int) -> list[queries.FeedItem]:
        # Members are looked up every time: a merge or undo during the stream counts.
        ids = await queries.members(s, await queries.resolve(s, party_id))
        return await queries.feed(s, viewer, after=after, limit=limit, party_ids=ids)

    await _log(session, principal, purpose, audit.Access(_endpoint(request), party_id=party_id))
    return _sse(request, fetch, start)


# --- cases -----------------------------------------------------------------------------


@router.get(
    "/cases/{case_id}",
    tags=["cases"],
    operation_id="getCase",
    response_model=queries.CaseView,
    responses=responses(404),
    summary="A case: owner, participants, handovers with reasons, due date, routing, contacts",
)
async def get_case(
    request: Request,
    case_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    purpose: PurposeDep = None,
) -> queries.CaseView:
    await _guard(request, session, principal, READ_HISTORY, purpose, case_id=case_id)
    view = await queries.case_view(
        session,
        _viewer(request, principal),
        case_id,
        now=_now(),
        count_cap=_settings(request).count_cap,
    )
    if view is None:
        await _log(
            session,
            principal,
            purpose,
            audit.Access(_endpoint(request), case_id=case_id, outcome="not-found"),
        )
        raise ProblemError(404, "Case not found")
    await _log(
        session,
        principal,
        purpose,
        audit.Access(_endpoint(request), party_id=view.party_id, case_id=case_id),
    )
    return view


@router.get(
    "/cases/{case_id}/timeline",
    tags=["cases"],
    operation_id="getCaseTimeline",
    response_model=queries.TimelinePage,
    responses=responses(400, 404),
    summary="A case's history (every contact, event and note), newest first",
)
async def case_timeline(
    request: Request,
    case_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    purpose: PurposeDep = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    channel: Annotated[list[Channel] | None, Query(max_length=7)] = None,
    type: Annotated[
        list[Annotated[str, Query(max_length=128, pattern=NO_NUL)]] | None, Query(max_length=20)
    ] = None,
    since: Annotated[AwareDatetime | None, Query(description="occurred at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="occurred before")] = None,
) -> queries.TimelinePage:
    await _guard(request, session, principal, READ_HISTORY, purpose, case_id=case_id)
    before = _before(cursor)
    party_id = await queries.case_party(session, case_id)
    if party_id is None:
        await _log(
            session,
            principal,
            purpose,
            audit.Access(_endpoint(request), case_id=case_id, outcome="not-found"),
        )
        raise ProblemError(404, "Case not found")
    page = await queries.case_timeline(
        session,
        _viewer(request, principal),
        case_id,
        party_id,
        limit=limit,
        before=before,
        filters=queries.TimelineFilter(
            channels=tuple(c.value for c in channel or ()),
            types=tuple(type or ()),
            since=_when(since),
            until=_when(until),
        ),
        count_cap=_settings(request).count_cap,
    )
    await _log(
        session,
        principal,
        purpose,
        audit.Access(_endpoint(request), party_id=party_id, case_id=case_id),
    )
    return page


@router.get(
    "/cases/{case_id}/events",
    tags=["live"],
    operation_id="streamCaseEvents",
    response_class=StreamingResponse,
    responses={**SSE_RESPONSE, **responses(400, 404)},
    summary="Live updates of a case (Server-Sent Events)",
)
async def case_events(
    request: Request,
    case_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    purpose: PurposeDep = None,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    await _guard(request, session, principal, READ_HISTORY, purpose, case_id=case_id)
    start = await _start(session, last_event_id)
    party_id = await queries.case_party(session, case_id)
    if party_id is None:
        await _log(
            session,
            principal,
            purpose,
            audit.Access(_endpoint(request), case_id=case_id, outcome="not-found"),
        )
        raise ProblemError(404, "Case not found")
    viewer = _viewer(request, principal)

    async def fetch(s: AsyncSession, after: int, limit: int) -> list[queries.FeedItem]:
        return await queries.feed(s, viewer, after=after, limit=limit, case_id=case_id)

    await _log(
        session,
        principal,
        purpose,
        audit.Access(_endpoint(request), party_id=party_id, case_id=case_id),
    )
    return _sse(request, fetch, start)


# --- teams -----------------------------------------------------------------------------


def _require_team(principal: Principal, team: str) -> None:
    if team not in principal.teams or not principal.has_any(ACT_ON_CASES):
        raise ProblemError(403, "Not your team", "Only members of a team see its queue.")


@router.get(
    "/teams/{team}/queue",
    tags=["teams"],
    operation_id="getTeamQueue",
    response_model=queries.QueuePage,
    responses=responses(400),
    summary="A team's work queue: open cases it owns or takes part in",
)
async def team_queue(
    request: Request,
    team: Team,
    principal: PrincipalDep,
    session: SessionDep,
    purpose: PurposeDep = None,
    sort: Annotated[
        queries.QueueSort, Query(description="age: oldest first; due: earliest due date first")
    ] = queries.QueueSort.AGE,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> queries.QueuePage:
    _require_team(principal, team)
    after = None
    if cursor is not None:
        try:
            after = queries.QueueKey.decode(cursor, sort.value)
        except ValueError as exc:
            raise ProblemError(
                400, "Invalid cursor", "Use 'next_cursor' with the same sort."
            ) from exc
    page = await queries.team_queue(
        session,
        _viewer(request, principal),
        team,
        sort=sort,
        limit=limit,
        after=after,
        now=_now(),
        count_cap=_settings(request).count_cap,
    )
    await _log(session, principal, purpose, audit.Access(_endpoint(request), team=team))
    return page


@router.get(
    "/teams/{team}/events",
    tags=["live"],
    operation_id="streamTeamEvents",
    response_class=StreamingResponse,
    responses={**SSE_RESPONSE, **responses(400)},
    summary="Live updates of every case the team owns or takes part in (Server-Sent Events)",
)
async def team_events(
    request: Request,
    team: Team,
    principal: PrincipalDep,
    session: SessionDep,
    purpose: PurposeDep = None,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    _require_team(principal, team)
    start = await _start(session, last_event_id)
    viewer = _viewer(request, principal)

    async def fetch(s: AsyncSession, after: int, limit: int) -> list[queries.FeedItem]:
        return await queries.feed(s, viewer, after=after, limit=limit, team=team)

    await _log(session, principal, purpose, audit.Access(_endpoint(request), team=team))
    return _sse(request, fetch, start)


async def _start(session: AsyncSession, last_event_id: str | None) -> int:
    try:
        given = live.parse_last_event_id(last_event_id)
    except ValueError as exc:
        raise ProblemError(400, "Invalid Last-Event-ID", str(exc)) from exc
    # Without an id the stream starts now: history is what the timeline endpoints are for.
    return given if given is not None else await queries.head_position(session)


def _sse(request: Request, fetch: Any, start: int) -> StreamingResponse:
    s = _settings(request)
    body = live.stream(
        request.app.state.sessions,
        fetch,
        start=start,
        pulse=request.app.state.pulse,
        poll_seconds=s.sse_poll_seconds,
        heartbeat_seconds=s.sse_heartbeat_seconds,
        max_seconds=s.sse_max_seconds,
    )
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# --- contacts --------------------------------------------------------------------------


@router.get(
    "/contacts/{message_id}",
    tags=["parties"],
    operation_id="locateContact",
    response_model=queries.ContactLocation,
    responses=responses(404),
    summary="Where an accepted message landed: its party and case (404 until projected)",
)
async def locate_contact(
    request: Request,
    message_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    purpose: PurposeDep = None,
) -> queries.ContactLocation:
    await _guard(request, session, principal, READ_HISTORY, purpose)
    found = await queries.locate_contact(session, message_id)
    if found is None:
        raise ProblemError(404, "Contact not found", "Not (yet) in the history.")
    await _log(
        session,
        principal,
        purpose,
        audit.Access(_endpoint(request), party_id=found.party_id, case_id=found.case_id),
    )
    return found


# --- access log ------------------------------------------------------------------------


@router.get(
    "/access-log",
    tags=["audit"],
    operation_id="getAccessLog",
    response_model=queries.AccessLogPage,
    responses=responses(400),
    summary="Who read which party or case, when and why (auditors only; this read is logged)",
)
async def get_access_log(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    purpose: PurposeDep = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    user: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    party_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
    since: Annotated[AwareDatetime | None, Query(description="at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="before")] = None,
) -> queries.AccessLogPage:
    if not principal.has_any(AUDIT):
        raise ProblemError(403, "Not allowed", "Only auditors read the access log.")
    before = None
    if cursor is not None:
        try:
            before = queries.decode_access_cursor(cursor)
        except ValueError as exc:
            raise ProblemError(
                400, "Invalid cursor", "Use 'next_cursor' from a previous page."
            ) from exc
    # Logged first, so an auditor's own read is in the log it reads.
    await _log(
        session,
        principal,
        purpose,
        audit.Access(_endpoint(request), party_id=party_id, case_id=case_id, detail="access log"),
    )
    return await queries.access_log_page(
        session,
        limit=limit,
        before=before,
        user=user,
        party_id=party_id,
        case_id=case_id,
        since=_when(since),
        until=_when(until),
    )


# --- staff commands --------------------------------------------------------------------
#
# A command caseview can already tell will fail is refused here, synchronously, with a
# Dutch ``detail`` that names the field: the command models refuse text PostgreSQL cannot
# store and over-long fields (the same models the router validates with), the routing
# file's teams (teams.py) refuse unknown teams, the read model refuses what contradicts
# it (preconditions.py). What only the router can know arrives as the command's status.

TEAM_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
# TeamId with the routing file's form (spelled out: a pattern added around TeamId's
# validator would be checked but missing from the OpenAPI document).
TeamField = Annotated[
    str,
    Field(min_length=1, max_length=TEAM_MAX, pattern=TEAM_PATTERN, description="A team id"),
    AfterValidator(storable),
]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HandOverRequest(_Body):
    to_team: TeamField
    reason: Reason


class ParticipantRequest(_Body):
    team: TeamField
    reason: OptionalReason | None = None


class StatusRequest(_Body):
    status: cmd.OpenStatus = Field(
        description="To close a case use POST /cases/{case_id}/close (it needs a result)."
    )


class CloseRequest(_Body):
    result: Reason


class NoteRequest(_Body):
    text: LongText


class OutboundContactRequest(_Body):
    channel: Channel
    summary: LongText


class LinkDecisionRequest(_Body):
    confirm: bool = Field(description="true: the same person (merge follows); false: not")
    verify_address: bool = Field(
        default=False,
        description="With confirm: the claimed address (e-mail, phone, chat) belongs to this "
        "party, so later messages from it link automatically. Not for shared addresses.",
    )
    reason: OptionalReason | None = None


class MergeRequest(_Body):
    merged_party_id: uuid.UUID = Field(description="The party that is the same person")
    reason: Reason


class UnmergeRequest(_Body):
    reason: Reason


class CommandAccepted(BaseModel):
    model_config = ConfigDict(frozen=True)

    command_id: uuid.UUID = Field(
        description="The CloudEvent id on omni.commands.v1. What became of it: GET the "
        "Location (/v1/commands/{command_id}); the outcome also arrives as an event on the "
        "history (and its live stream), a refusal as nl.eenloket.command.rejected."
    )
    type: str
    status: Literal["accepted"] = "accepted"


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Send the same key again and it is the same command (same command id).",
    ),
]
COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Accepted: Kafka acknowledged the command. Its status is at the Location.",
        "headers": {
            "Location": {
                "description": "/v1/commands/{command_id}: accepted, applied or rejected",
                "schema": {"type": "string"},
            }
        },
    },
    **responses(404, 409, 503),
}

E = TypeVar("E", bound=Event)


def _invalid(
    errors: Sequence[Mapping[str, Any]], prefix: Sequence[str], detail: str | None = None
) -> ProblemError:
    """A 422 like FastAPI's, for what is checked in the route: Dutch detail, fields named."""
    refused = ProblemError(
        422, "Request validation failed", detail or messages.validation_detail(errors)
    )
    refused.problem = refused.problem.model_copy(update={"errors": messages.listed(errors, prefix)})
    return refused


def _command(model: type[E], **fields: Any) -> E:
    """The command, validated by its contract (the router validates it the same way). The
    request body passed the same field types already; what can still fail here came from
    the read model or the token (from_team, by)."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise _invalid(exc.errors(include_input=False), ("command",)) from exc


def _known_team(request: Request, name: str, team: str) -> None:
    teams: frozenset[str] = request.app.state.teams
    if team not in teams:
        raise _invalid(
            [{"loc": ("body", name), "msg": f"unknown team '{team}'", "type": "unknown_team"}],
            (),
            f"Het veld {messages.field(name)}: team '{team}' bestaat niet in het "
            "routeringsbestand.",
        )


def _conflict(detail: str, title: str = "Conflicts with the current state") -> ProblemError:
    return ProblemError(409, title, detail)


async def _send(
    request: Request,
    response: Response,
    session: AsyncSession,
    principal: Principal,
    command: Event,
    *,
    key: uuid.UUID,
    idempotency_key: str | None,
) -> CommandAccepted:
    s = _settings(request)
    command_id = commands.command_id(principal, idempotency_key)
    by = getattr(command, "by", None)
    case_id = getattr(command, "case_id", None)
    # Noted before publishing (so its status is readable the moment the 202 is), and the
    # read transaction ends here before waiting for Kafka (on SQLite it holds the lock).
    new = await command_status.record_accepted(
        session,
        command_id=command_id,
        type_=command.TYPE,
        user=principal.user,
        team=by.team if by is not None else None,
        case_id=case_id,
        party_id=None if case_id is not None else key,
        now=_now(),
    )
    await session.commit()
    try:
        await commands.send(
            request.app.state.producer,
            s.topic_commands,
            source=s.source("eenloket-caseview"),
            command=command,
            command_id=command_id,
            key=key,
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
        await command_status.forget(session, command_id)
        await session.commit()
    except SQLAlchemyError:
        # The answer is a 503 either way; the row says "accepted" for a command that may
        # never arrive, and a retry with the same Idempotency-Key is the same command.
        log.warning("could not forget an unpublished command", extra={"error_type": "db"})


async def _case_for_action(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID, *, owner_only: bool
) -> tuple[queries.CaseAccess, str | None]:
    """The case, and the team the user acts for. Owner-only actions need the owning team;
    notes and contacts may also come from a participating team or the contact centre."""
    if not principal.has_any(ACT_ON_CASES):
        raise ProblemError(403, "Not allowed", "Uw rol staat geen acties op zaken toe.")
    case = (await queries.case_access(session, [case_id])).get(case_id)
    if case is None:
        raise ProblemError(404, "Case not found", "Zaak niet gevonden (of nog niet verwerkt).")
    if case.owner_team in principal.teams:
        return case, case.owner_team
    if not owner_only:
        joined = sorted(principal.teams & case.participants)
        if joined:
            return case, joined[0]
        if principal.has_any(frozenset({Role.KCC})):
            return case, "kcc" if "kcc" in principal.teams else None
    raise ProblemError(
        403,
        "Not your case",
        f"Alleen het team dat eigenaar is van de zaak ({case.owner_team}) kan dit doen.",
    )


async def _open_case(
    session: AsyncSession, case: queries.CaseAccess, action: str
) -> preconditions.CaseState:
    """409 when the read model says the case is closed (the router refuses it too)."""
    state = await preconditions.case_state(session, case.id)
    if state is None:
        raise ProblemError(404, "Case not found", "Zaak niet gevonden (of nog niet verwerkt).")
    if not state.is_open:
        raise _conflict(
            f"Zaak {state.number} is al afgehandeld en kan niet meer {action}.", "Case closed"
        )
    return state


@router.post(
    "/cases/{case_id}/handovers",
    tags=["commands"],
    operation_id="handOverCase",
    status_code=202,
    response_model=CommandAccepted,
    responses=COMMAND_RESPONSES,
    summary="Hand the case over to another team, with a reason",
)
async def hand_over(
    request: Request,
    response: Response,
    case_id: uuid.UUID,
    body: HandOverRequest,
    principal: PrincipalDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> CommandAccepted:
    case, team = await _case_for_action(session, principal, case_id, owner_only=True)
    _known_team(request, "to_team", body.to_team)
    if body.to_team == case.owner_team:
        raise _conflict(f"De zaak is al van team {body.to_team}.", "Already the owner")
    await _open_case(session, case, "worden overgedragen")
    command = _command(
        cmd.HandOverCase,
        case_id=case_id,
        from_team=case.owner_team,
        to_team=body.to_team,
        reason=body.reason,
        by=commands.actor(principal, team),
    )
    return await _send(
        request,
        response,
        session,
        principal,
        command,
        key=case_id,
        idempotency_key=idempotency_key,
    )


@router.post(
    "/cases/{case_id}/participants",
    tags=["commands"],
    operation_id="addParticipant",
    status_code=202,
    response_model=CommandAccepted,
    responses=COMMAND_RESPONSES,
    summary="Let another team take part in the case (e.g. vooroverleg)",
)
async def add_participant(
    request: Request,
    response: Response,
    case_id: uuid.UUID,
    body: ParticipantRequest,
    principal: PrincipalDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> CommandAccepted:
    case, team = await _case_for_action(session, principal, case_id, owner_only=True)
    _known_team(request, "team", body.team)
    if body.team == case.owner_team or body.team in case.participants:
        raise _conflict(
            f"Team {body.team} is eigenaar van de zaak of neemt er al aan deel.",
            "Already involved",
        )
    await _open_case(session, case, "worden uitgebreid met een team")
    command = _command(
        cmd.AddParticipant,
        case_id=case_id,
        team=body.team,
        reason=body.reason,
        by=commands.actor(principal, team),
    )
    return await _send(
        request,
        response,
        session,
        principal,
        command,
        key=case_id,
        idempotency_key=idempotency_key,
    )


@router.post(
    "/cases/{case_id}/participant-removals",
    tags=["commands"],
    operation_id="removeParticipant",
    status_code=202,
    response_model=CommandAccepted,
    responses=COMMAND_RESPONSES,
    summary="End a team's participation in the case",
)
async def remove_participant(
    request: Request,
    response: Response,
    case_id: uuid.UUID,
    body: ParticipantRequest,
    principal: PrincipalDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> CommandAccepted:
    case, team = await _case_for_action(session, principal, case_id, owner_only=True)
    if body.team not in case.participants:
        raise _conflict(f"Team {body.team} neemt niet deel aan de zaak.", "Not a participant")
    command = _command(
        cmd.RemoveParticipant,
        case_id=case_id,
        team=body.team,
        reason=body.reason,
        by=commands.actor(principal, team),
    )
    return await _send(
        request,
        response,
        session,
        principal,
        command,
        key=case_id,
        idempotency_key=idempotency_key,
    )


@router.post(
    "/cases/{case_id}/status",
    tags=["commands"],
    operation_id="changeCaseStatus",
    status_code=202,
    response_model=CommandAccepted,
    responses=COMMAND_RESPONSES,
    summary="Change the case's status",
)
async def change_status(
    request: Request,
    response: Response,
    case_id: uuid.UUID,
    body: StatusRequest,
    principal: PrincipalDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> CommandAccepted:
    case, team = await _case_for_action(session, principal, case_id, owner_only=True)
    state = await _open_case(session, case, "van status veranderen")
    if state.status == body.status:
        raise _conflict(f"De zaak heeft al de status '{body.status}'.", "Status unchanged")
    command = _command(
        cmd.ChangeStatus, case_id=case_id, status=body.status, by=commands.actor(principal, team)
    )
    return await _send(
        request,
        response,
        session,
        principal,
        command,
        key=case_id,
        idempotency_key=idempotency_key,
    )


@router.post(
    "/cases/{case_id}/close",
    tags=["commands"],
    operation_id="closeCase",
    status_code=202,
    response_model=CommandAccepted,
    responses=COMMAND_RESPONSES,
    summary="Close the case (afgehandeld) with its result",
)
async def close_case(
    request: Request,
    response: Response,
    case_id: uuid.UUID,
    body: CloseRequest,
    principal: PrincipalDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> CommandAccepted:
    case, team = await _case_for_action(session, principal, case_id, owner_only=True)
    await _open_case(session, case, "worden afgesloten")
    command = _command(
        cmd.CloseCase, case_id=case_id, result=body.result, by=commands.actor(principal, team)
    )
    return await _send(
        request,
        response,
        session,
        principal,
        command,
        key=case_id,
        idempotency_key=idempotency_key,
    )


@router.post(
    "/cases/{case_id}/notes",
    tags=["commands"],
    operation_id="addNote",
    status_code=202,
    response_model=CommandAccepted,
    responses=COMMAND_RESPONSES,
    summary="Add an internal note to the case",
)
async def add_note(
    request: Request,
    response: Response,
    case_id: uuid.UUID,
    body: NoteRequest,
    principal: PrincipalDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> CommandAccepted:
    # Notes and contacts are allowed on a closed case: the history goes on.
    _, team = await _case_for_action(session, principal, case_id, owner_only=False)
    command = _command(
        cmd.AddNote, case_id=case_id, text=body.text, by=commands.actor(principal, team)
    )
    return await _send(
        request,
        response,
        session,
        principal,
        command,
        key=case_id,
        idempotency_key=idempotency_key,
    )


@router.post(
    "/cases/{case_id}/outbound-contacts",
    tags=["commands"],
    operation_id="registerOutboundContact",
    status_code=202,
    response_model=CommandAccepted,
    responses=COMMAND_RESPONSES,
    summary="Register a contact the municipality made (called back, wrote, ...)",
)
async def register_outbound(
    request: Request,
    response: Response,
    case_id: uuid.UUID,
    body: OutboundContactRequest,
    principal: PrincipalDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> CommandAccepted:
    _, team = await _case_for_action(session, principal, case_id, owner_only=False)
    command = _command(
        cmd.RegisterOutboundContact,
        case_id=case_id,
        channel=body.channel,
        summary=body.summary,
        by=commands.actor(principal, team),
    )
    return await _send(
        request,
        response,
        session,
        principal,
        command,
        key=case_id,
        idempotency_key=idempotency_key,
    )


def _identity_team(principal: Principal) -> str | None:
    return "kcc" if "kcc" in principal.teams else min(principal.teams, default=None)


def _require_identity_role(principal: Principal) -> None:
    if not principal.has_any(DECIDE_IDENTITY):
        raise ProblemError(
            403, "Not allowed", "Alleen het klantcontactcentrum of een teamleider beslist hierover."
        )


@router.post(
    "/link-suggestions/{suggestion_id}/decision",
    tags=["commands"],
    operation_id="decideLinkSuggestion",
    status_code=202,
    response_model=CommandAccepted,
    responses=COMMAND_RESPONSES,
    summary="Confirm (then merge) or reject a suggested identity link",
)
async def decide_link(
    request: Request,
    response: Response,
    suggestion_id: uuid.UUID,
    body: LinkDecisionRequest,
    principal: PrincipalDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> CommandAccepted:
    _require_identity_role(principal)
    party_id = await queries.suggestion_party(session, suggestion_id)
    if party_id is None:
        raise ProblemError(404, "Suggestion not found", "Voorgestelde koppeling niet gevonden.")
    decided = await preconditions.suggestion_decision(session, suggestion_id)
    if decided is not None:
        raise _conflict(
            "Over deze voorgestelde koppeling is al besloten: "
            f"{messages.DECISIONS.get(decided, decided)}.",
            "Already decided",
        )
    command = _command(
        cmd.DecideLink,
        suggestion_id=suggestion_id,
        confirm=body.confirm,
        verify_address=body.verify_address,
        reason=body.reason,
        by=commands.actor(principal, _identity_team(principal)),
    )
    return await _send(
        request,
        response,
        session,
        principal,
        command,
        key=party_id,
        idempotency_key=idempotency_key,
    )


@router.post(
    "/parties/{party_id}/merges",
    tags=["commands"],
    operation_id="mergeParties",
    status_code=202,
    response_model=CommandAccepted,
    responses=COMMAND_RESPONSES,
    summary="Merge another party into this one (the same person); can be undone",
)
async def merge_parties(
    request: Request,
    response: Response,
    party_id: uuid.UUID,
    body: MergeRequest,
    principal: PrincipalDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> CommandAccepted:
    _require_identity_role(principal)
    if body.merged_party_id == party_id:
        raise _conflict("Een dossier kan niet met zichzelf worden samengevoegd.", "Same party")
    for p in (party_id, body.merged_party_id):
        if not await queries.party_exists(session, p):
            raise ProblemError(
                404, "Party not found", "Inwoner of ondernemer niet gevonden (of nog niet verwerkt)"
            )
    merged_root = await queries.resolve(session, body.merged_party_id)
    if merged_root == await queries.resolve(session, party_id):
        raise _conflict("De twee dossiers zijn al samengevoegd.", "Already merged")
    if merged_root != body.merged_party_id:
        raise _conflict(
            "Het samen te voegen dossier ('merged_party_id') is al samengevoegd met een ander "
            "dossier; maak die samenvoeging eerst ongedaan.",
            "Merged elsewhere",
        )
    command = _command(
        cmd.MergeParties,
        party_id=party_id,
        merged_party_id=body.merged_party_id,
        reason=body.reason,
        by=commands.actor(principal, _identity_team(principal)),
    )
    return await _send(
        request,
        response,
        session,
        principal,
        command,
        key=party_id,
        idempotency_key=idempotency_key,
    )


@router.post(
    "/merges/{merge_id}/undo",
    tags=["commands"],
    operation_id="unmergeParties",
    status_code=202,
    response_model=CommandAccepted,
    responses=COMMAND_RESPONSES,
    summary="Undo a merge: two histories again",
)
async def unmerge_parties(
    request: Request,
    response: Response,
    merge_id: uuid.UUID,
    body: UnmergeRequest,
    principal: PrincipalDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> CommandAccepted:
    _require_identity_role(principal)
    party_id = await queries.merge_party(session, merge_id)
    if party_id is None:
        raise ProblemError(404, "Merge not found", "Samenvoeging niet gevonden.")
    if await preconditions.merge_undone(session, merge_id):
        raise _conflict("Deze samenvoeging is al ongedaan gemaakt.", "Already undone")
    command = _command(
        cmd.UnmergeParties,
        merge_id=merge_id,
        reason=body.reason,
        by=commands.actor(principal, _identity_team(principal)),
    )
    return await _send(
        request,
        response,
        session,
        principal,
        command,
        key=party_id,
        idempotency_key=idempotency_key,
    )


@router.get(
    "/commands/{command_id}",
    tags=["commands"],
    operation_id="getCommandStatus",
    response_model=command_status.CommandStatus,
    responses=responses(404),
    summary="What became of a staff command you sent: accepted, applied, or rejected and why",
)
async def get_command_status(
    request: Request,
    command_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    purpose: PurposeDep = None,
) -> command_status.CommandStatus:
    """Need-to-know: the sender and the team they acted for. Anyone else gets 404, as for
    an id that does not exist (a command's existence is not theirs to learn)."""
    if not principal.has_any(ACT_ON_CASES | DECIDE_IDENTITY):
        raise ProblemError(403, "Not allowed", "Uw rol geeft geen opdrachten.")
    found = await command_status.read(session, command_id)
    if found is None or not found.readable_by(principal.user, principal.teams):
        raise ProblemError(
            404, "Command not found", "Opdracht niet gevonden (of niet van u of uw team)."
        )
    await _log(
        session,
        principal,
        purpose,
        audit.Access(
            _endpoint(request),
            party_id=found.view.party_id,
            case_id=found.view.case_id,
            detail="command status",
        ),
    )
    return found.view
