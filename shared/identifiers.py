"""A sender's identifiers: how ingest checks and normalises them, and the rung of the trust
ladder each one gets. Every channel (channels/*.py) and the bulk import (ops/importer/)
go through these functions, so an identifier means the same whichever way it arrived.

Trust comes from the channel's evidence, never from what a sender typed: a channel says
what its integration *proved* about an identifier (``Evidence``), and ``trust_of`` alone
turns that into the rung. No channel names a rung itself.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping

import phonenumbers
from stdnum.nl import bsn as stdnum_bsn

from shared.contracts import Evidence, IdentifierKind, InboundMessage, SenderIdentifier, Trust

# Patterns as the JSON schema states them (channels/common.py) and the import checks them.
SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"  # no CR, LF, NUL: a header injection or a broken client
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # tabs and line breaks allowed
BSN_PATTERN = r"^\d{9}$"
KVK_PATTERN = r"^\d{8}$"
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$"
EMAIL_MAX = 254
PHONE_PATTERN = r"^\+?[0-9 ()\-]{3,31}$"
PHONE_MAX = 32

_KVK = re.compile(KVK_PATTERN)
_EMAIL = re.compile(EMAIL_PATTERN)
_PHONE = re.compile(PHONE_PATTERN)

# The rung each kind of evidence is worth. Only a login or an identity document makes an
# identifier authenticated; only the operator of an import vouching for the old CRM makes
# it verified. DMARC, DKIM and a network caller ID are evidence the router weighs
# (services/router/domain/trust.py); the identifier itself stays claimed, as does
# anything without evidence.
_TRUST: Mapping[Evidence | None, Trust] = {
    Evidence.DIGID: Trust.AUTHENTICATED,
    Evidence.EHERKENNING: Trust.AUTHENTICATED,
    Evidence.ID_DOCUMENT: Trust.AUTHENTICATED,
    Evidence.CRM_IMPORT: Trust.VERIFIED,
    Evidence.DMARC: Trust.CLAIMED,
    Evidence.DKIM: Trust.CLAIMED,
    Evidence.NETWORK_CALLER_ID: Trust.CLAIMED,
    None: Trust.CLAIMED,
}
# Strongest first: the record key is made from the strongest identifier (``sender_key``;
# the import makes the same key, ops/importer/encoding.py).
TRUST_ORDER: Mapping[str, int] = {Trust.AUTHENTICATED: 0, Trust.VERIFIED: 1, Trust.CLAIMED: 2}
# What a login the integration vouched for proves (web form, app).
LOGIN_EVIDENCE: Mapping[str, tuple[IdentifierKind, Evidence]] = {
    "digid": (IdentifierKind.BSN, Evidence.DIGID),
    "eherkenning": (IdentifierKind.KVK, Evidence.EHERKENNING),
}

Proven = Mapping[IdentifierKind, Evidence]


def trust_of(evidence: Evidence | None) -> Trust:
    """The rung an identifier gets from what proved it (nothing: claimed)."""
    return _TRUST[evidence]


def login_proves(authentication: str, vouched: bool) -> Proven:
    """What a login proves: the identifier the login produced, when the integration may
    assert logins; otherwise nothing."""
    found = LOGIN_EVIDENCE.get(authentication) if vouched else None
    return dict([found]) if found else {}


def sender_identifiers(
    identifiers: Iterable[tuple[IdentifierKind, str | None]],
    proven: Proven | None = None,
    *,
    detail: str | None = None,
) -> list[SenderIdentifier]:
    """The message's sender: each given identifier (in the given order, empty ones left
    out) with its rung from ``proven`` (kind -> what the channel proved about it).
    ``detail``: who proved it (an authserv-id), for the identifiers that have evidence."""
    proven = proven or {}
    sender = []
    for kind, value in identifiers:
        if not value:
            continue
        evidence = proven.get(kind)
        sender.append(
            SenderIdentifier(
                kind=kind,
                value=value,
                trust=trust_of(evidence),
                evidence=evidence,
                evidence_detail=detail if evidence is not None else None,
            )
        )
    return sender


# --- checking and normalising one identifier (ValueError names no value) ----------------


def bsn(value: str) -> str:
    """Nine digits passing the 11-proef."""
    if not (len(value) == 9 and value.isdigit() and stdnum_bsn.is_valid(value)):
        raise ValueError("not a valid BSN (9 digits passing the 11-proef)")
    return value


def kvk(value: str) -> str:
    """A KvK number: 8 digits."""
    if not _KVK.match(value):
        raise ValueError("not 8 digits")
    return value


def email(value: str) -> str:
    """An e-mail address, lower-cased (how every channel compares them)."""
    if len(value) > EMAIL_MAX or not _EMAIL.match(value):
        raise ValueError("not an e-mail address")
    return value.lower()


def e164(raw: str, *, region: str = "NL") -> str:
    """A phone number in E.164 (``+31612345678``); Dutch numbers may be written nationally."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone(value: str) -> str:
    """A phone number as a person writes it, in E.164."""
    if len(value) > PHONE_MAX or not _PHONE.match(value):
        raise ValueError("not a phone number")
    return e164(value)


def sender_key(message: InboundMessage, secret: bytes) -> bytes:
    """The Kafka record key of an inbound message: an HMAC of its strongest identifier, never
    the identifier itself, so one sender's messages share a partition (and keep their order)
    whichever way they came in (ingest's channels, the Klantinteracties write)."""
    if not message.sender:
        return str(message.message_id).encode()
    best = min(message.sender, key=lambda s: TRUST_ORDER[s.trust])
    digest = hmac.new(secret, f"{best.kind}:{best.value}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32].encode()
