"""Ingest's HTTP routes: one per channel, each only translating input into a message."""

from __future__ import annotations

import hmac
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, status
from pydantic import BaseModel

from services.ingest.channels.webform import WebFormSubmission, to_message
from services.ingest.service import REJECTED, Intake
from shared.http import PROBLEM_RESPONSES, ProblemError
from shared.kafka.producer import BrokerUnavailableError

router = APIRouter(prefix="/v1", tags=["channels"])


class AcceptedResponse(BaseModel):
    message_id: uuid.UUID
    status: str = "accepted"
    duplicate: bool = False


def get_intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


IntakeDep = Annotated[Intake, Depends(get_intake)]


def require_json(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ProblemError(
            415, "Unsupported media type", "Send the form as 'Content-Type: application/json'."
        )


@router.post(
    "/channels/web",
    operation_id="submitWebForm",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Depends(require_json)],
    responses={**PROBLEM_RESPONSES, 403: PROBLEM_RESPONSES[400] | {"description": "Not allowed"}},
    summary="Accept a web form submitted through the municipal portal",
)
async def submit_web_form(
    form: WebFormSubmission,
    request: Request,
    intake: IntakeDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    x_api_key: Annotated[str | None, Header(max_length=200)] = None,
) -> AcceptedResponse:
    authenticated = form.authentication != "none"
    if authenticated and not _is_portal(request, x_api_key):
        REJECTED.labels("web", "unauthenticated-login-claim").inc()
        raise ProblemError(
            403,
            "Login level not allowed",
            "Only the portal's integration key may assert a DigiD/eHerkenning login.",
        )
    keys = []
    if idempotency_key:
        keys.append(("web:idempotency-key", idempotency_key))
    if form.submission_id:
        keys.append(("web:submission", form.submission_id))
    try:
        accepted = await intake.accept(
            lambda message_id: to_message(form, message_id=message_id, authenticated=authenticated),
            channel="web",
            idempotency=keys,
        )
    except BrokerUnavailableError as exc:
        REJECTED.labels("web", "kafka-unavailable").inc()
        raise ProblemError(
            503,
            "Message queue unavailable",
            "The message was not accepted; send it again after the Retry-After delay.",
            headers={"Retry-After": str(request.app.state.settings.retry_after_seconds)},
        ) from exc
    return AcceptedResponse(message_id=accepted.message_id, duplicate=accepted.duplicate)


def _is_portal(request: Request, given: str | None) -> bool:
    expected = request.app.state.settings.portal_api_key.get_secret_value()
    return bool(expected) and given is not None and hmac.compare_digest(given, expected)
