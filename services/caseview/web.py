"""The HTTP plumbing every caseview route shares: the request's session and caller, common
parameters, the problem responses documented per route, and small conversions.

Order of checks everywhere: no valid token -> 401; a role that may not use the endpoint
-> 403 (before any lookup, so a 404 never tells an unauthorised caller whether a party
exists); unknown id -> 404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.auth import InvalidTokenError, Principal
from services.caseview.config import CaseviewSettings
from services.caseview.paging import TimelineKey, utc
from services.caseview.viewer import Viewer
from shared.http import PROBLEM_JSON, PROBLEM_RESPONSES, Problem, ProblemError


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


CHALLENGE = {"WWW-Authenticate": 'Bearer realm="caseview"'}
INVALID_TOKEN = {"WWW-Authenticate": 'Bearer realm="caseview", error="invalid_token"'}
bearer = HTTPBearer(auto_error=False, description="OIDC access token (JWT) of the user")


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise ProblemError(
            401, "Authentication required", "Send an OIDC bearer token.", headers=CHALLENGE
        )
    try:
        principal: Principal = await request.app.state.tokens.validate(credentials.credentials)
    except InvalidTokenError as exc:
        raise ProblemError(
            401,
            "Invalid token",
            "The token is malformed, expired, or not issued for caseview.",
            headers=INVALID_TOKEN,
        ) from exc
    if principal.client in settings(request).resident_clients:
        # A resident's token (even one that somehow carries roles) reads /v1/me only.
        raise ProblemError(403, "Not a staff token", "Residents use /v1/me.")
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


def settings(request: Request) -> CaseviewSettings:
    found: CaseviewSettings = request.app.state.settings
    return found


def viewer(request: Request, principal: Principal) -> Viewer:
    return Viewer(
        teams=principal.teams,
        confidential_terms=tuple(settings(request).confidential_products),
    )


def endpoint(request: Request) -> str:
    """The route template, e.g. ``GET /v1/parties/{party_id}/timeline``."""
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"


def invalid_cursor(detail: str = "Use 'next_cursor' from a previous page.") -> ProblemError:
    return ProblemError(400, "Invalid cursor", detail)


def timeline_cursor(cursor: str | None) -> TimelineKey | None:
    if cursor is None:
        return None
    try:
        return TimelineKey.decode(cursor)
    except ValueError as exc:
        raise invalid_cursor() from exc


def when(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return utc(value)
    except ValueError as exc:
        raise ProblemError(400, "Invalid time", "The time is out of range.") from exc


def now() -> datetime:
    return datetime.now(UTC)
