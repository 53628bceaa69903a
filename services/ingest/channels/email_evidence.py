"""The evidence of an e-mail's From address: a trusted mail gateway's own
Authentication-Results header (RFC 8601) with dmarc=pass for the From domain (see
channels/email.py). Nothing else in the message counts: a sender can write any header."""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import authres

if TYPE_CHECKING:
    from services.ingest.channels.email import ParsedEmail


def _domain_key(domain: str) -> str:
    """A domain to compare: lower case, no root dot, Unicode labels as A-labels (punycode,
    without IDNA mapping: two spellings are one domain only if they are the same labels)."""
    labels = domain.strip().rstrip(".").lower().split(".")
    try:
        return ".".join(
            label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
            for label in labels
        )
    except UnicodeError:
        return ".".join(labels)


# The authserv-id at the start of an Authentication-Results value (after comments; a token
# or a quoted string): found without parsing the whole value, which ``authres`` does at
# ~1 ms a header; only the header that counts is parsed.
_AUTHSERV_ID = re.compile(r'\s*(?:\([^()]*\)\s*)*("?)([^\s;()"\\]+)\1(?=[\s;(]|$)')


@functools.lru_cache(maxsize=256)
def _parsed_authentication_results(value: str) -> Any:
    """An Authentication-Results value parsed (RFC 8601, ``authres``), or None if it is
    not one. Remembered: a gateway's header for one sender domain repeats."""
    try:
        return authres.AuthenticationResultsHeader.parse_value(value)
    except Exception:  # AuthResError, or whatever else the sender's bytes provoke: not one
        return None


def _authserv_id(value: str) -> str:
    """The authserv-id of an Authentication-Results value, lower case ('' if none)."""
    found = _AUTHSERV_ID.match(value)
    if found:
        return found.group(2).lower()
    parsed = _parsed_authentication_results(value)  # nested comments and other rarities
    return "" if parsed is None else str(parsed.authserv_id).lower()


def from_evidence(email: ParsedEmail, trusted_authserv_ids: Collection[str]) -> str | None:
    """The trusted authserv-id that vouches for the From domain (dmarc=pass), or None.

    Only headers whose authserv-id the municipality configured count, and of each such id
    only the topmost header: the gateway adds its own on top and must remove older ones
    bearing its id (RFC 8601 section 5); one further down came with the message. Its
    ``dmarc`` result for the From domain (``header.from``) must be ``pass``; any other
    result for that domain from a trusted gateway (fail, none, temperror) is no evidence.
    Several From headers or mailboxes: no evidence, whatever the gateway says.
    """
    if not trusted_authserv_ids or not email.from_unambiguous:
        return None
    trusted = {i.strip().lower() for i in trusted_authserv_ids}
    domain = _domain_key(email.from_address.rpartition("@")[2])
    seen: set[str] = set()
    vouching: str | None = None
    for value in email.authentication_results:
        authserv_id = _authserv_id(value)
        if authserv_id not in trusted or authserv_id in seen:
            continue
        seen.add(authserv_id)  # even when unreadable: the next one with its id is no better
        header = _parsed_authentication_results(value) if "dmarc" in value.lower() else None
        if header is None or str(header.authserv_id).lower() != authserv_id:
            continue
        for result in header.results:
            if str(result.method).lower() != "dmarc":
                continue
            header_from = [
                str(p.value)
                for p in result.properties
                if str(p.type).lower() == "header" and str(p.name).lower() == "from"
            ]
            if not any(_domain_key(v) == domain for v in header_from):
                continue
            if str(result.result).lower() != "pass":
                return None
            vouching = vouching or authserv_id
        if seen == trusted:
            break
    return vouching
