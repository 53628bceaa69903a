"""What a JSON dump becomes: the sender (trust from Open Formulieren's login only), the
subject, a readable text of the chosen values, the files, and the ``Submission`` for
``Intake.accept`` (idempotent on the public reference)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from orjson import OPT_SORT_KEYS, dumps

from services.ingest.auth import Caller
from services.ingest.channels.common import clean
from services.ingest.open_formulieren import ROUTE_NAME
from services.ingest.open_formulieren.body import JsonDump, blob, files, is_file
from services.ingest.open_formulieren.mapping import FormMapping
from services.ingest.submissions import Submission
from shared import identifiers
from shared.contracts import Channel, IdentifierKind, InboundMessage, SenderIdentifier
from shared.contracts.inbound import AttachmentRef
from shared.identifiers import login_proves, sender_identifiers

SUBJECT_MAX, TEXT_MAX = 300, 20_000


class LoginNotAllowedError(Exception):
    """The body reports a DigiD/eHerkenning login and the key may not assert logins (403)."""


class MissingLoginValueError(ValueError):
    """``auth_type`` names a login whose identifier is not in the metadata (422)."""


def _readable(value: Any) -> str | None:
    """A value as a person reads it; None for nothing to show."""
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, bool):
        return "ja" if value else "nee"
    if is_file(value):
        return str(value["file_name"])
    if isinstance(value, list):
        parts = [p for p in (_readable(v) for v in value) if p]
        return ", ".join(parts) or None
    if isinstance(value, dict):
        if value and all(isinstance(v, bool) for v in value.values()):  # selectboxes
            return ", ".join(k for k, v in value.items() if v) or None
        parts = [f"{k}: {p}" for k, v in value.items() if (p := _readable(v))]
        return "; ".join(parts) or None
    return str(value).strip() or None


def _static(key: str) -> bool:
    return key == "auth" or key.startswith("auth_")


def render_text(body: JsonDump, mapping: FormMapping) -> str:
    """``label: value`` per chosen value (every value but files and Open Formulieren's
    own variables when the mapping chooses none), then the files by name."""
    if mapping.text:
        chosen = [(f.key, f.label) for f in mapping.text]
    else:
        chosen = [
            (k, None) for k, v in body.values.items() if not _static(k) and not list(files(v))
        ]
    lines = []
    for key, label in chosen:
        shown = _readable(body.value(key))
        if shown is not None:
            lines.append(f"{label or body.title(key) or key}: {shown}")
    names = [str(f["file_name"]) for _, f in files(body.values)]
    if names:
        lines.append("Bijlagen: " + ", ".join(names))
    text = "\n".join(lines) or f"Formulier '{body.metadata.form_name or 'onbekend'}' ingediend."
    return text[:TEXT_MAX]


def _line(value: Any, limit: int) -> str | None:
    shown = _readable(value)
    if shown is None:
        return None
    return " ".join(shown.split())[:limit] or None


def subject(body: JsonDump, mapping: FormMapping) -> str:
    chosen = (
        _line(body.value(mapping.subject_field), SUBJECT_MAX) if mapping.subject_field else None
    )
    return chosen or mapping.subject or clean(body.metadata.form_name) or "Open Formulieren"


def _typed(check: Any, value: Any) -> str | None:
    """A typed identifier, checked; one that fails the check is left out of the sender
    (it stays in the text as typed): a typo must not lose the resident's contact."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return str(check(value.strip()))
    except ValueError:
        return None


def sender(body: JsonDump, mapping: FormMapping, caller: Caller) -> list[SenderIdentifier]:
    """The login's identifier from the metadata (authenticated only if the key may assert
    logins, else 403), then what the mapping's fields hold (claimed)."""
    meta = body.metadata
    login = meta.login
    if login == "digid" and not meta.auth_bsn:
        raise MissingLoginValueError("auth_type 'bsn' without 'auth_bsn' in the metadata")
    if login == "eherkenning" and not meta.auth_kvk:
        raise MissingLoginValueError("auth_type 'kvk' without 'auth_kvk' in the metadata")
    if login != "none" and not caller.may_assert_login:
        raise LoginNotAllowedError(login)
    if meta.auth_bsn:
        identifiers.bsn(meta.auth_bsn)  # from DigiD: a failing 11-proef is a broken body
    field = body.value

    def typed(name: str | None, check: Any) -> str | None:
        return _typed(check, field(name)) if name else None

    # The login's identifier replaces a typed one of its kind: the proof is per kind.
    bsn = meta.auth_bsn if login == "digid" else typed(mapping.bsn_field, identifiers.bsn)
    kvk = meta.auth_kvk if login == "eherkenning" else typed(mapping.kvk_field, identifiers.kvk)
    return sender_identifiers(
        [
            (IdentifierKind.BSN, bsn),
            (IdentifierKind.KVK, kvk),
            (IdentifierKind.EMAIL, typed(mapping.email_field, identifiers.email)),
            (IdentifierKind.PHONE, typed(mapping.phone_field, identifiers.phone)),
        ],
        login_proves(login, caller.may_assert_login),
    )


def fingerprint(body: JsonDump) -> str:
    """The content the public reference binds: the values and the metadata, without the
    registration timestamp (a retried registration is stamped anew)."""
    document = {
        "values": body.values,
        "metadata": body.metadata.model_dump(mode="json", exclude={"registration_timestamp"}),
    }
    return hashlib.sha256(dumps(document, option=OPT_SORT_KEYS)).hexdigest()


def submission(body: JsonDump, mapping: FormMapping, caller: Caller) -> Submission:
    """The submission for ``Intake.accept``. Raises ``LoginNotAllowedError``,
    ``MissingLoginValueError``, ``body.BadFileError``."""
    who = sender(body, mapping, caller)
    blobs = [blob(path, f) for path, f in files(body.values)]
    meta = body.metadata
    product = _line(body.value(mapping.product_field), 200) if mapping.product_field else None
    name = _line(body.value(mapping.name_field), 200) if mapping.name_field else None

    def build(message_id: uuid.UUID, refs: list[AttachmentRef], now: datetime) -> InboundMessage:
        # received_at is the first receipt ("now"), not registration_timestamp: a retry
        # rebuilds this message byte for byte, and a retry is stamped anew.
        return InboundMessage(
            message_id=message_id,
            channel=Channel.WEB,
            received_at=now,
            sender=who,
            display_name=name,
            subject=subject(body, mapping),
            text=render_text(body, mapping),
            product_hint=product or mapping.product,
            attachments=refs,
            channel_message_id=meta.public_reference,
            establishment=(meta.auth_context_branch_number or None)
            if meta.login == "eherkenning"
            else None,
        )

    return Submission(
        Channel.WEB,
        build,
        [(f"{ROUTE_NAME}:reference", f"{caller.name}:{meta.public_reference}")],
        fingerprint(body),
        blobs,
        id_field="metadata.public_reference",
    )
