"""What each channel makes of a readable body: a ``Submission`` for ``Intake.accept`` (how
to build its message, the idempotency keys and the content they bind, the attachments).
The FastAPI routes (api.py) and the fast lane (fastlane.py) both go through these, so a
channel's rules (who may assert a login, which ids make a re-send safe, which attachments
to store) live in one place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from orjson import OPT_SORT_KEYS, dumps
from pydantic import BaseModel, TypeAdapter

from services.ingest.auth import Caller
from services.ingest.channels import app as app_channel
from services.ingest.channels import chat, counter, letter, phone, webform
from services.ingest.channels import email as email_channel
from services.ingest.service import MessageBuilder
from shared.attachments import Blob
from shared.contracts import Channel
from shared.http import ProblemError

JSON, RFC822 = "application/json", "message/rfc822"


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


def _json_submission(
    channel: Channel,
    body: BaseModel,
    caller: Caller,
    idempotency_key: str | None,
    id_field: str,
    build: MessageBuilder,
    attachments: Sequence[Blob] = (),
) -> Submission:
    """A JSON body's submission: its own id (the field ``id_field``) makes a re-send safe
    as the header's key does, and the validated body is the content they bind."""
    own_id = getattr(body, id_field)
    return Submission(
        channel,
        build,
        _keys(channel, caller, idempotency_key, own_id),
        fingerprint(body),
        attachments,
        id_field=id_field,
    )


def web_submission(
    form: webform.WebFormSubmission, caller: Caller, idempotency_key: str | None
) -> Submission:
    authenticated = _login(caller, form.asserts_login)
    return _json_submission(
        Channel.WEB,
        form,
        caller,
        idempotency_key,
        "submission_id",
        lambda mid, refs, now: webform.to_message(
            form, message_id=mid, authenticated=authenticated, attachments=refs, now=now
        ),
    )


def app_submission(
    message: app_channel.AppMessage, caller: Caller, idempotency_key: str | None
) -> Submission:
    authenticated = _login(caller, message.asserts_login)
    return _json_submission(
        Channel.APP,
        message,
        caller,
        idempotency_key,
        "message_id",
        lambda mid, refs, now: app_channel.to_message(
            message, message_id=mid, authenticated=authenticated, attachments=refs, now=now
        ),
        [a.blob() for a in message.attachments],
    )


def chat_submission(
    event: chat.ChatEvent, caller: Caller, idempotency_key: str | None
) -> Submission:
    blobs = [a.blob() for a in event.attachments] if isinstance(event, chat.ChatMessage) else []
    return _json_submission(
        Channel.CHAT,
        event,
        caller,
        idempotency_key,
        "event_id",
        lambda mid, refs, _now: chat.to_message(event, message_id=mid, attachments=refs),
        blobs,
    )


def phone_submission(
    call: phone.CallRecord, caller: Caller, idempotency_key: str | None
) -> Submission:
    vouched = _caller_id(caller, call.caller_id_verified)
    return _json_submission(
        Channel.PHONE,
        call,
        caller,
        idempotency_key,
        "call_id",
        lambda mid, _refs, _now: phone.to_message(call, message_id=mid, caller_id_vouched=vouched),
    )


def counter_submission(
    visit: counter.CounterVisit, caller: Caller, idempotency_key: str | None
) -> Submission:
    authenticated = _login(caller, visit.asserts_login)
    return _json_submission(
        Channel.COUNTER,
        visit,
        caller,
        idempotency_key,
        "visit_id",
        lambda mid, refs, _now: counter.to_message(
            visit, message_id=mid, authenticated=authenticated, attachments=refs
        ),
        [a.blob() for a in visit.attachments],
    )


def letter_submission(
    scanned: letter.ScannedLetter, caller: Caller, idempotency_key: str | None
) -> Submission:
    return _json_submission(
        Channel.LETTER,
        scanned,
        caller,
        idempotency_key,
        "letter_id",
        lambda mid, refs, _now: letter.to_message(scanned, message_id=mid, attachments=refs),
        [scanned.scan.blob(), *(a.blob() for a in scanned.enclosures)],
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
        email_channel.builder(parsed, caller.trusted_authserv_ids),
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
    model: Any = None  # a JSON body's type (the route's body parameter)


def _json(body: Any, submission: Callable[[Any, Caller, str | None], Submission]) -> ChannelBody:
    return ChannelBody(JSON, TypeAdapter(body).validate_json, submission, body)


CHANNEL_BODIES: dict[Channel, ChannelBody] = {
    Channel.WEB: _json(webform.WebFormSubmission, web_submission),
    Channel.EMAIL: ChannelBody(RFC822, read_email, email_submission),
    Channel.APP: _json(app_channel.AppMessage, app_submission),
    Channel.CHAT: _json(chat.ChatEvent, chat_submission),
    Channel.PHONE: _json(phone.CallRecord, phone_submission),
    Channel.COUNTER: _json(counter.CounterVisit, counter_submission),
    Channel.LETTER: _json(letter.ScannedLetter, letter_submission),
}
