"""Ingest's HTTP routes: one per channel, each only translating input into a message.

Every route: the integration's key first (401/403), then the content type (415),
then the body (413 before parsing, 422 after), then ``Intake.accept`` — 202
once Kafka acknowledged, 503 with ``Retry-After`` when it did not.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Security, status
from fastapi.security import APIKeyHeader
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError

from services.ingest.attachments import AttachmentLimitError
from services.ingest.auth import Authenticator, Caller, ChannelNotAllowedError, UnknownKeyError
from services.ingest.rejections import Reason
from services.ingest.service import (
    IdempotencyConflictError,
    InFlightError,
    Intake,
)
from services.ingest.submissions import (
    CHANNEL_BODIES,
    JSON,
    RFC822,
    Submission,
    email_submission,
    read_email,
)
from shared.contracts import Channel
from shared.http import PROBLEM_RESPONSES, ProblemError
from shared.kafka.producer import BrokerUnavailableError

router = APIRouter(prefix="/v1/channels", tags=["channels"])

api_key_header = APIKeyHeader(
    name="X-Api-Key",
    auto_error=False,
    description="The integration's API key (per source system, bound to its channels).",
)


class AcceptedResponse(BaseModel):
    message_id: uuid.UUID
    status: str = "accepted"
    duplicate: bool = False


def _problem(description: str) -> dict[str, Any]:
    return PROBLEM_RESPONSES[400] | {"description": description}


RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    401: _problem("API key missing or unknown"),
    403: _problem("Key not allowed for this channel, or may not assert a login"),
    409: _problem(
        "The first request with this idempotency key (or channel message id) is not yet "
        "acknowledged; send it again after the Retry-After delay"
    ),
    422: _problem(
        "Validation failed, or an idempotency key (or channel message id) used before "
        "with other content"
    ),
}


# Dependencies are `async def`: FastAPI runs plain `def` dependencies in a thread
# pool, a hop per dependency per request that profiling showed as a top cost.
async def get_intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


IntakeDep = Annotated[Intake, Depends(get_intake)]
IDEMPOTENCY_KEY_MAX = 200
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]+$"  # printable ASCII, no spaces
IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=IDEMPOTENCY_KEY_MAX,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Makes a re-send safe: the same key gives the same answer and no second "
        "message (within the retention window, default 7 days).",
    ),
]


def identify(authenticator: Authenticator, key: str | None, channel: Channel) -> Caller:
    """The integration behind ``key``, or the 401/403 problem."""
    try:
        return authenticator.authenticate(key, channel)
    except UnknownKeyError as exc:
        raise ProblemError(
            401,
            "API key missing or unknown",
            f"{exc}. Each integration sends its own key in 'X-Api-Key'.",
            headers={"WWW-Authenticate": 'ApiKey header="X-Api-Key"'},
        ) from exc
    except ChannelNotAllowedError as exc:
        raise ProblemError(403, "Channel not allowed for this key", str(exc)) from exc


def _caller(channel: Channel) -> Callable[..., Awaitable[Caller]]:
    async def authenticate(
        request: Request, key: Annotated[str | None, Security(api_key_header)]
    ) -> Caller:
        return identify(request.app.state.authenticator, key, channel)

    authenticate.__name__ = f"authenticate_{channel.value}"
    return authenticate


def _content_type(*accepted: str) -> Callable[[Request], Awaitable[None]]:
    async def require(request: Request) -> None:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in accepted:
            raise ProblemError(
                415,
                "Unsupported media type",
                f"Send the body as 'Content-Type: {' or '.join(accepted)}'.",
            )

    require.__name__ = "require_" + accepted[0].replace("/", "_").replace("+", "_")
    return require


require_json = _content_type(JSON)
require_rfc822 = _content_type(RFC822)

CALLERS = {channel: _caller(channel) for channel in Channel}


def _named_key(scope: str, submission: Submission) -> tuple[list[str], str]:
    """Which key a refusal is about (its location, as validation errors give it, and its
    name in words): the header or the body field, never the value."""
    if scope.endswith(":idempotency-key"):
        return ["header", "idempotency-key"], "The Idempotency-Key header"
    if submission.id_field:
        return ["body", submission.id_field], f"The field '{submission.id_field}'"
    return ["body"], "The same content"


async def accept(intake: Intake, submission: Submission, retry_after: int) -> AcceptedResponse:
    """``Intake.accept``, with its refusals as problem documents (409, 413, 422, 503)."""
    retry = {"Retry-After": str(retry_after)}
    try:
        accepted = await intake.accept(
            submission.build,
            channel=submission.channel.value,
            idempotency=submission.idempotency,
            fingerprint=submission.fingerprint,
            attachments=submission.attachments,
        )
    except IdempotencyConflictError as exc:
        # draft-ietf-httpapi-idempotency-key-header: a key reused with another payload.
        loc, name = _named_key(exc.scope, submission)
        raise ProblemError(
            422,
            "Idempotency key reused",
            f"{name} was used before for a request with other content (within the "
            "retention window). A re-send must repeat the request unchanged; a new "
            "request needs a new key.",
            errors=[
                {
                    "loc": loc,
                    "msg": "used before with other content",
                    "type": "idempotency_key_reused",
                }
            ],
        ) from exc
    except InFlightError as exc:
        _, name = _named_key(exc.scope, submission)
        raise ProblemError(
            409,
            "Request in progress",
            f"{name} belongs to a request that is still being accepted (not yet "
            "acknowledged by Kafka); send it again after the Retry-After delay.",
            headers=retry,
        ) from exc
    except AttachmentLimitError as exc:
        raise ProblemError(413, "Attachments over the limit", f"{exc}.") from exc
    except BrokerUnavailableError as exc:
        raise ProblemError(
            503,
            "Message queue unavailable",
            "The message was not accepted; send it again after the Retry-After delay.",
            headers=retry,
            reason=Reason.KAFKA_UNAVAILABLE,
        ) from exc
    except (OperationalError, DBAPIError, OSError) as exc:
        # The database (idempotency) or the attachment store is away: as temporary as
        # a Kafka outage, and just as safe to retry.
        raise ProblemError(
            503,
            "Ingest storage unavailable",
            "The message was not accepted; send it again after the Retry-After delay.",
            headers=retry,
            reason=Reason.STORAGE_UNAVAILABLE,
        ) from exc
    return AcceptedResponse(message_id=accepted.message_id, duplicate=accepted.duplicate)


async def _accept(request: Request, intake: Intake, submission: Submission) -> AcceptedResponse:
    return await accept(intake, submission, request.app.state.settings.retry_after_seconds)


def _route(channel: Channel, summary: str, *, rfc822: bool = False) -> dict[str, Any]:
    return {
        "path": f"/{channel.value}",
        "operation_id": f"submit{channel.value.title()}",
        "status_code": status.HTTP_202_ACCEPTED,
        "dependencies": [
            Depends(CALLERS[channel]),
            Depends(require_rfc822 if rfc822 else require_json),
        ],
        "responses": RESPONSES,
        "summary": summary,
    }


# The JSON channels' routes: (endpoint name, body parameter, summary). The body's type and
# what it becomes are the channel's ``CHANNEL_BODIES`` entry; the parameter's name is the
# body schema's title where the body is not a model (the chat events).
JSON_ROUTES: dict[Channel, tuple[str, str, str]] = {
    Channel.WEB: (
        "submit_web_form",
        "form",
        "Accept a web form submitted through the municipal portal",
    ),
    Channel.APP: ("submit_app_message", "message", "Accept a message from the municipal app"),
    Channel.CHAT: ("submit_chat_event", "event", "Accept a chat platform webhook event"),
    Channel.PHONE: ("submit_call", "call", "Accept a call record from the telephony platform"),
    Channel.COUNTER: (
        "submit_counter_visit",
        "visit",
        "Accept a visit registered at the counter (balie)",
    ),
    Channel.LETTER: ("submit_letter", "scanned", "Accept a scanned letter from the mailroom"),
}


def _json_endpoint(
    channel: Channel, endpoint: str, body_name: str
) -> Callable[..., Awaitable[AcceptedResponse]]:
    """The FastAPI endpoint of a JSON channel: the validated body, the caller, then the
    channel's submission. Its signature is set explicitly: FastAPI reads the body's type,
    the dependencies and the header from it."""
    body = CHANNEL_BODIES[channel]

    async def submit(
        request: Request, intake: Intake, caller: Caller, idempotency_key: str | None, **fields: Any
    ) -> AcceptedResponse:
        submission = body.submission(fields[body_name], caller, idempotency_key)
        return await _accept(request, intake, submission)

    def parameter(name: str, annotation: Any, **default: Any) -> inspect.Parameter:
        return inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, **default
        )

    submit.__name__ = submit.__qualname__ = endpoint
    submit.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            parameter(body_name, body.model),
            parameter("request", Request),
            parameter("intake", IntakeDep),
            parameter("caller", Annotated[Caller, Depends(CALLERS[channel])]),
            parameter("idempotency_key", IdempotencyKey, default=None),
        ],
        return_annotation=AcceptedResponse,
    )
    return submit


for _channel, (_endpoint, _body_name, _summary) in JSON_ROUTES.items():
    router.post(**_route(_channel, _summary))(_json_endpoint(_channel, _endpoint, _body_name))


@router.post(
    **_route(Channel.EMAIL, "Accept a raw e-mail (RFC 5322) from the mail gateway", rfc822=True),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def submit_email(
    request: Request,
    intake: IntakeDep,
    caller: Annotated[Caller, Depends(CALLERS[Channel.EMAIL])],
    idempotency_key: IdempotencyKey = None,
) -> AcceptedResponse:
    parsed = read_email(await request.body())
    return await _accept(request, intake, email_submission(parsed, caller, idempotency_key))
