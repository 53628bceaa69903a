"""A contact as the bytes ingest would publish: the envelope, the deterministic message id
and the record key."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import orjson

from ops.importer.rows import IMPORT_EVIDENCE, Contact
from shared.contracts import MessageReceived, Trust
from shared.envelope import envelope_json, utc_iso
from shared.identifiers import TRUST_ORDER

# Fixed forever: changing it would give every row of an earlier import a new id.
NAMESPACE = uuid.UUID("5d3f4c1e-7a0b-4b8e-9a59-2f1c0e6b7d41")
THREAD_PREFIX = "import:"


def message_id(file_sha256: str, row: int) -> uuid.UUID:
    """The message id (and CloudEvent id) of a row: the same for the same file and row."""
    return uuid.uuid5(NAMESPACE, f"{file_sha256}:{row}")


class MessageIds:
    """``str(message_id(file_sha256, row))`` without a UUID object per row (same bytes)."""

    def __init__(self, file_sha256: str) -> None:
        self._sha1 = hashlib.sha1(NAMESPACE.bytes + f"{file_sha256}:".encode())  # noqa: S324 - uuid5 is defined on SHA-1

    def __call__(self, row: int) -> str:
        h = self._sha1.copy()
        h.update(str(row).encode())
        b = bytearray(h.digest()[:16])
        b[6] = (b[6] & 0x0F) | 0x50  # version 5
        b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
        x = b.hex()
        return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def _identifier_json(kind: str, value: str, trust: str) -> dict[str, str | None]:
    """A sender identifier as ingest's model writes it. In an import a verified identifier
    has one possible evidence, the operator's ``--trust-verified`` (docs/routing.md,
    "where trust comes from")."""
    evidence = IMPORT_EVIDENCE.value if trust == Trust.VERIFIED.value else None
    return {
        "kind": kind,
        "value": value,
        "trust": trust,
        "evidence": evidence,
        "evidence_detail": None,
    }


def thread_refs(contact: Contact) -> list[str]:
    """All contacts of one old case share a thread reference, so they land in one case."""
    return [f"{THREAD_PREFIX}{contact.case_number}"] if contact.case_number else []


def encode(contact: Contact, mid: uuid.UUID | str, source: str) -> bytes:
    """The CloudEvent JSON of ``message.received``, field for field what
    ``to_cloudevent(MessageReceived(...)).to_json()`` gives, without pydantic per row."""
    ident = str(mid)
    at = utc_iso(contact.received_at)
    return orjson.dumps(
        envelope_json(
            source=source,
            type=MessageReceived.TYPE,
            subject=ident,
            event_id=mid,
            time=contact.received_at,
            data={
                "message": {
                    "message_id": ident,
                    "channel": contact.channel,
                    "received_at": at,
                    "sender": [_identifier_json(k, v, t) for k, v, t in contact.sender],
                    "display_name": contact.display_name,
                    "subject": contact.subject,
                    "text": contact.text,
                    "language": "nl",
                    "thread_refs": thread_refs(contact),
                    "case_number_hint": None,
                    "product_hint": None,
                    "attachments": [],
                    "channel_message_id": None,
                    "establishment": None,
                    "owner_team_hint": contact.team,
                    "case_status_hint": contact.case_status,
                }
            },
        )
    )


class SenderKeys:
    """The record key ingest uses (``sender_key``): an HMAC of the strongest identifier,
    so an imported sender shares a partition with the same sender's live messages."""

    def __init__(self, secret: bytes) -> None:
        self._mac = hmac.new(secret, digestmod=hashlib.sha256)
        self._cache: dict[tuple[str, str], bytes] = {}

    def key(self, contact: Contact, mid: uuid.UUID | str) -> bytes:
        if not contact.sender:
            return str(mid).encode()
        best = min(contact.sender, key=lambda s: TRUST_ORDER[s[2]])
        cache_key = (best[0], best[1])
        found = self._cache.get(cache_key)
        if found is None:
            mac = self._mac.copy()
            mac.update(f"{best[0]}:{best[1]}".encode())
            found = mac.hexdigest()[:32].encode()
            if len(self._cache) < 1_000_000:
                self._cache[cache_key] = found
        return found
