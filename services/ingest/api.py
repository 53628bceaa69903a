"""Ingest's HTTP routes: one per channel, each only translating input into a message.

Every route: the integration's key first (401/403), then the content type (415),
then the body (413 before parsing, 422 after), then ``Intake.accept`` — 202
once Kafka acknowledged, 503 with ``Retry-After`` when it did not.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Security, status
from fastapi.security import APIKeyHeader
from orjson import OPT_SORT_KEYS, dumps
from pydantic import BaseModel, TypeAdapter
from sqlalchemy.exc import DBAPIError, OperationalError

from services.ingest.attachments import AttachmentLimitError, Blob
from services.ingest.auth import Authenticator, Caller, ChannelNotAllowedError, UnknownKeyError
from services.ingest.channels import app as app_channel
from services.ingest.channels import chat, counter, letter, phone, webform
from services.ingest.channels import email as email_channel
from services.ingest.service import (
    IdempotencyConflictError,
    InFlightError,
    Intake,
    MessageBuilder,
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


JSON, RFC822 = "application/json", "message/rfc822"
require_json = _content_type(JSON)
require_rfc822 = _content_type(RFC822)

CALLERS = {channel: _caller(channel) for channel in Channel}


def _login(caller: Caller, asserts_login: bool) -> bool:
    """Whether the message may carry an authenticated identifier; 403 if it claims one
    and the integration may not vouch for logins."""
    if asserts_login and not caller.may_assert_login:
        raise ProblemError(
            403,
            "Login level not allowed",
            "Only an integration key that may assert logins can send an authenticated "
            "identity (DigiD, eHerkenning, an ID check at the counter).",
        )
    return asserts_login


def _caller_id(caller: Caller, asserts_caller_id: bool) -> bool:
    """Whether the caller's number may carry network-caller-id evidence; 403 if the record
    says so and the integration may not vouch for caller ID."""
    if asserts_caller_id and not caller.may_assert_caller_id:
        raise ProblemError(
            403,
            "Caller ID assertion not allowed",
            "Only an integration key that may assert caller ID can mark a number as "
            "network-verified ('caller_id_verified').",
        )
    return asserts_caller_id


def _keys(
    channel: Channel, caller: Caller, header: str | None, own_id: str | None
) -> list[tuple[str, str]]:
    """Idempotency keys, scoped to the integration: two systems' ids never collide."""
    keys = []
    if header:
        keys.append((f"{channel.value}:idempotency-key", f"{caller.name}:{header}"))
    if own_id:
        keys.append((f"{channel.value}:message-id", f"{caller.name}:{own_id}"))
    return keys


def fingerprint(body: BaseModel) -> str:
    """The content an idempotency key is bound to: the validated request, canonically.

    SHA-256 of its JSON form with sorted keys and without the fields left at their
    defaults: whitespace, key order and an explicitly sent default make no difference
    (nor does a new optional field in a later version); a different value of any field
    (another text, a time with another offset) is other content."""
    document = body.model_dump(mode="json", exclude_defaults=True)
    return hashlib.sha256(dumps(document, option=OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class Submission:
    """What a channel hands to ``Intake.accept``: how to build its message, the
    idempotency keys and the content they bind, the attachments to store first, and
    the body field holding the channel's own message id (to name it in a refusal)."""

    channel: Channel
    build: MessageBuilder
    idempotency: Sequence[tuple[str, str]]
    fingerprint: str
    attachments: Sequence[Blob] = ()
    id_field: str | None = None


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
        ) from exc
    except (OperationalError, DBAPIError, OSError) as exc:
        # The database (idempotency) or the attachment store is away: as temporary as
        # a Kafka outage, and just as safe to retry.
        raise ProblemError(
            503,
            "Ingest storage unavailable",
            "The message was not accepted; send it again after the Retry-After delay.",
            headers=retry,
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


# What each JSON channel makes of its validated body. The FastAPI routes below and the
# fast lane (services/ingest/fastlane.py) both go through these, so a channel's rules
# (who may assert a login, which ids make a re-send safe, which attachments to store)
# live in one place.


def web_submission(
    form: webform.WebFormSubmission, caller: Caller, idempotency_key: str | None
) -> Submission:
    authenticated = _login(caller, form.asserts_login)
    return Submission(
        Channel.WEB,
        lambda mid, refs, now: webform.to_message(
            form, message_id=mid, authenticated=authenticated, attachments=refs, now=now
        ),
        _keys(Channel.WEB, caller, idempotency_key, form.submission_id),
        fingerprint(form),
        id_field="submission_id",
    )


def app_submission(
    message: app_channel.AppMessage, caller: Caller, idempotency_key: str | None
) -> Submission:
    authenticated = _login(caller, message.asserts_login)
    return Submission(
        Channel.APP,
        lambda mid, refs, now: app_channel.to_message(
            message, message_id=mid, authenticated=authenticated, attachments=refs, now=now
        ),
        _keys(Channel.APP, caller, idempotency_key, message.message_id),
        fingerprint(message),
        [a.blob() for a in message.attachments],
        id_field="message_id",
    )


def chat_submission(
    event: chat.ChatEvent, caller: Caller, idempotency_key: str | None
) -> Submission:
    blobs = [a.blob() for a in event.attachments] if isinstance(event, chat.ChatMessage) else []
    return Submission(
        Channel.CHAT,
        lambda mid, refs, _now: chat.to_message(event, message_id=mid, attachments=refs),
        _keys(Channel.CHAT, caller, idempotency_key, event.event_id),
        fingerprint(event),
        blobs,
        id_field="event_id",
    )


def phone_submission(
    call: phone.CallRecord, caller: Caller, idempotency_key: str | None
) -> Submission:
    vouched = _caller_id(caller, call.caller_id_verified)
    return Submission(
        Channel.PHONE,
        lambda mid, _refs, _now: phone.to_message(call, message_id=mid, caller_id_vouched=vouched),
        _keys(Channel.PHONE, caller, idempotency_key, call.call_id),
        fingerprint(call),
        id_field="call_id",
    )


def counter_submission(
    visit: counter.CounterVisit, caller: Caller, idempotency_key: str | None
) -> Submission:
    authenticated = _login(caller, visit.asserts_login)
    return Submission(
        Channel.COUNTER,
        lambda mid, refs, _now: counter.to_message(
            visit, message_id=mid, authenticated=authenticated, attachments=refs
        ),
        _keys(Channel.COUNTER, caller, idempotency_key, visit.visit_id),
        fingerprint(visit),
        [a.blob() for a in visit.attachments],
        id_field="visit_id",
    )


def letter_submission(
    scanned: letter.ScannedLetter, caller: Caller, idempotency_key: str | None
) -> Submission:
    return Submission(
        Channel.LETTER,
        lambda mid, refs, _now: letter.to_message(scanned, message_id=mid, attachments=refs),
        _keys(Channel.LETTER, caller, idempotency_key, scanned.letter_id),
        fingerprint(scanned),
        [scanned.scan.blob(), *(a.blob() for a in scanned.enclosures)],
        id_field="letter_id",
    )


def read_email(raw: bytes) -> email_channel.ParsedEmail:
    """A raw RFC 5322 message, parsed; a 400/422 problem if it cannot be."""
    try:
        return email_channel.parse(raw)
    except email_channel.EmailRefusedError as exc:
        title = "Malformed e-mail" if exc.http_status == 400 else "E-mail not acceptable"
        raise ProblemError(exc.http_status, title, f"{exc.detail}.") from exc


def email_submission(
    parsed: email_channel.ParsedEmail, caller: Caller, idempotency_key: str | None
) -> Submission:
    keys = parsed.idempotency_keys()
    if idempotency_key:
        keys.insert(0, ("email:idempotency-key", f"{caller.name}:{idempotency_key}"))
    return Submission(
        Channel.EMAIL,
        lambda mid, refs, now: email_channel.to_message(
            parsed,
            message_id=mid,
            attachments=refs,
            received_at=now,
            trusted_authserv_ids=caller.trusted_authserv_ids,
        ),
        keys,
        parsed.content_sha256,  # the content key itself: only the header key can conflict
        parsed.attachments,
    )


@dataclass(frozen=True)
class ChannelBody:
    """A channel's body: its media type, how it is read (a pydantic ``ValidationError``
    or a ``ProblemError`` when it cannot be), and what a readable body becomes."""

    media_type: str
    read: Callable[[bytes], Any]
    submission: Callable[[Any, Caller, str | None], Submission]


def _json(body: Any) -> Callable[[bytes], Any]:
    return TypeAdapter(body).validate_json


CHANNEL_BODIES: dict[Channel, ChannelBody] = {
    Channel.WEB: ChannelBody(JSON, _json(webform.WebFormSubmission), web_submission),
    Channel.EMAIL: ChannelBody(RFC822, read_email, email_submission),
    Channel.APP: ChannelBody(JSON, _json(app_channel.AppMessage), app_submission),
    Channel.CHAT: ChannelBody(JSON, _json(chat.ChatEvent), chat_submission),
    Channel.PHONE: ChannelBody(JSON, _json(phone.CallRecord), phone_submission),
    Channel.COUNTER: ChannelBody(JSON, _json(counter.CounterVisit), counter_submission),
    Channel.LETTER: ChannelBody(JSON, _json(letter.ScannedLetter), letter_submission),
}


WebCaller = Annotated[Caller, Depends(CALLERS[Channel.WEB])]
EmailCaller = Annotated[Caller, Depends(CALLERS[Channel.EMAIL])]
AppCaller = Annotated[Caller, Depends(CALLERS[Channel.APP])]
ChatCaller = Annotated[Caller, Depends(CALLERS[Channel.CHAT])]
PhoneCaller = Annotated[Caller, Depends(CALLERS[Channel.PHONE])]
CounterCaller = Annotated[Caller, Depends(CALLERS[Channel.COUNTER])]
LetterCaller = Annotated[Caller, Depends(CALLERS[Channel.LETTER])]


@router.post(**_route(Channel.WEB, "Accept a web form submitted through the municipal portal"))
async def submit_web_form(
    form: webform.WebFormSubmission,
    request: Request,
    intake: IntakeDep,
    caller: WebCaller,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedResponse:
    return await _accept(request, intake, web_submission(form, caller, idempotency_key))


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
    caller: EmailCaller,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedResponse:
    parsed = read_email(await request.body())
    return await _accept(request, intake, email_submission(parsed, caller, idempotency_key))


@router.post(**_route(Channel.APP, "Accept a message from the municipal app"))
async def submit_app_message(
    message: app_channel.AppMessage,
    request: Request,
    intake: IntakeDep,
    caller: AppCaller,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedResponse:
    return await _accept(request, intake, app_submission(message, caller, idempotency_key))


@router.post(**_route(Channel.CHAT, "Accept a chat platform webhook event"))
async def submit_chat_event(
    event: chat.ChatEvent,
    request: Request,
    intake: IntakeDep,
    caller: ChatCaller,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedResponse:
    return await _accept(request, intake, chat_submission(event, caller, idempotency_key))


@router.post(**_route(Channel.PHONE, "Accept a call record from the telephony platform"))
async def submit_call(
    call: phone.CallRecord,
    request: Request,
    intake: IntakeDep,
    caller: PhoneCaller,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedResponse:
    return await _accept(request, intake, phone_submission(call, caller, idempotency_key))


@router.post(**_route(Channel.COUNTER, "Accept a visit registered at the counter (balie)"))
async def submit_counter_visit(
    visit: counter.CounterVisit,
    request: Request,
    intake: IntakeDep,
    caller: CounterCaller,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedResponse:
    return await _accept(request, intake, counter_submission(visit, caller, idempotency_key))


@router.post(**_route(Channel.LETTER, "Accept a scanned letter from the mailroom"))
async def submit_letter(
    scanned: letter.ScannedLetter,
    request: Request,
    intake: IntakeDep,
    caller: LetterCaller,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedResponse:
    return await _accept(request, intake, letter_submission(scanned, caller, idempotency_key))
