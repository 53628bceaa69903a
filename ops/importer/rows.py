"""Checking and normalising one row of an old CRM's export: the schema's fields, the
contact a valid row becomes, and why a bad row is refused (a reason naming no value)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared import identifiers
from shared.contracts import CaseStatus, Channel, Evidence, IdentifierKind
from shared.identifiers import MULTI_LINE, SINGLE_LINE, trust_of

IDENTIFIER_KINDS: tuple[str, ...] = (
    IdentifierKind.BSN.value,
    IdentifierKind.KVK.value,
    IdentifierKind.EMAIL.value,
    IdentifierKind.PHONE.value,
    IdentifierKind.CHAT.value,
    IdentifierKind.POSTAL_ADDRESS.value,
)
FIELDS = (
    "date",
    "channel",
    *IDENTIFIER_KINDS,
    "verified",
    "name",
    "subject",
    "text",
    "case_number",
    "team",
    "case_status",
)
REQUIRED_FIELDS = ("date", "channel")
CHANNELS = frozenset(c.value for c in Channel)
# Imported history is finished unless the row says otherwise: years of old contacts must
# not land in today's team queues as open, overdue cases.
CASE_STATUSES = tuple(CaseStatus)
DEFAULT_CASE_STATUS = CaseStatus.CLOSED
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# What proves an identifier the operator vouched for (``--trust-verified``).
IMPORT_EVIDENCE = Evidence.CRM_IMPORT

_SINGLE_LINE = re.compile(SINGLE_LINE)
_MULTI_LINE = re.compile(MULTI_LINE)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LIST_SPLIT = re.compile(r"[\s,;|]+")

MAX_NAME = 200
MAX_SUBJECT = 500
MAX_TEXT = 100_000
MAX_CASE_NUMBER = 200
MAX_TEAM = 64
MAX_IDENTIFIER = 320


class RowError(ValueError):
    """Why a row cannot be imported. The message never contains a value from the row."""


@dataclass(frozen=True)
class Options:
    """How rows are read. ``trust_verified``: the operator vouches that identifiers the old
    CRM marked as verified were verified by the municipality."""

    trust_verified: bool = False
    timezone: ZoneInfo = AMSTERDAM  # for timestamps written without an offset
    now: datetime | None = None  # "the future" starts here (tests); default: the clock


@dataclass(frozen=True, slots=True)
class Contact:
    """One valid row, ready to encode."""

    row: int
    received_at: datetime  # UTC
    channel: str
    sender: tuple[tuple[str, str, str], ...]  # (kind, value, trust), ingest's order
    display_name: str | None
    subject: str | None
    text: str
    case_number: str | None
    team: str | None
    case_status: str = DEFAULT_CASE_STATUS.value


# --- validating one row ----------------------------------------------------------------


def _text(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if type(value) is str:  # the common case first: this runs a dozen times per row
        return value.strip() or None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowError(f"{name}: expected text")
    value = str(value).strip()
    return value or None


def _single_line(raw: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = _text(raw, name)
    if value is None:
        return None
    if len(value) > limit:
        raise RowError(f"{name}: longer than {limit} characters")
    if not _SINGLE_LINE.match(value):
        raise RowError(f"{name}: contains a line break or control character")
    return value


def parse_date(value: str | None, tz: ZoneInfo, now: datetime) -> datetime:
    """ISO 8601 date-time; without an offset it is local time in ``tz``. Returned in UTC."""
    if value is None:
        raise RowError("date: missing")
    if _DATE_ONLY.match(value):
        raise RowError("date: a date without a time; give the original timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RowError("date: not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    parsed = parsed.astimezone(UTC)
    if parsed > now + timedelta(minutes=5):
        raise RowError("date: in the future")
    if parsed.year < 1900:
        raise RowError("date: before 1900")
    return parsed


_BSNS: dict[str, str] = {}


def _bsn(value: str) -> str:
    cached = _BSNS.get(value)
    if cached is not None:
        return cached
    digits = value.replace(".", "").replace(" ", "")
    if len(digits) == 8 and digits.isdigit():
        digits = "0" + digits  # spreadsheets drop the leading zero
    try:
        identifiers.bsn(digits)
    except ValueError:
        # The import's wording: the repairs above make "9 digits" the whole rule.
        raise RowError("bsn: not 9 digits passing the 11-proef") from None
    if len(_BSNS) < 1_000_000:
        _BSNS[value] = digits
    return digits


def _kvk(value: str) -> str:
    digits = value.replace(" ", "")
    if len(digits) == 7 and digits.isdigit():
        digits = "0" + digits  # spreadsheets drop the leading zero
    return _checked("kvk", identifiers.kvk, digits)


def _email(value: str) -> str:
    return _checked("email", identifiers.email, value)


_PHONES: dict[str, str] = {}


def _phone(value: str) -> str:
    """E.164, as ingest normalises it (Dutch numbers may be written nationally)."""
    cached = _PHONES.get(value)
    if cached is not None:
        return cached
    normalised = _checked("phone", identifiers.phone, value)
    if len(_PHONES) < 1_000_000:
        _PHONES[value] = normalised
    return normalised


def _checked(kind: str, check: Callable[[str], str], value: str) -> str:
    try:
        return check(value)
    except ValueError as exc:  # ingest's reasons name no value
        raise RowError(f"{kind}: {exc}") from None


def _plain(kind: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > MAX_IDENTIFIER:
            raise RowError(f"{kind}: longer than {MAX_IDENTIFIER} characters")
        if not _SINGLE_LINE.match(value):
            raise RowError(f"{kind}: contains a line break or control character")
        return value

    return check


_NORMALISE: dict[str, Callable[[str], str]] = {
    "bsn": _bsn,
    "kvk": _kvk,
    "email": _email,
    "phone": _phone,
    "chat": _plain("chat"),
    "postal_address": _plain("postal_address"),
}


def _verified_kinds(raw: Mapping[str, Any]) -> frozenset[str]:
    value = raw.get("verified")
    if value is None or value == "":
        return frozenset()
    if isinstance(value, list):
        items = value
    elif isinstance(value, str):
        items = [v for v in _LIST_SPLIT.split(value.strip().lower()) if v]
    else:
        raise RowError("verified: expected identifier kinds, e.g. 'bsn;email'")
    kinds = set()
    for item in items:
        if not isinstance(item, str) or item not in _NORMALISE:
            raise RowError(f"verified: unknown identifier kind (use {', '.join(IDENTIFIER_KINDS)})")
        kinds.add(item)
    return frozenset(kinds)


def parse_row(raw: Mapping[str, Any], row: int, options: Options) -> Contact:
    """Check and normalise one row (a dict of the schema's fields); raise ``RowError``."""
    now = options.now or datetime.now(UTC)
    received_at = parse_date(_text(raw, "date"), options.timezone, now)
    channel = _text(raw, "channel")
    if channel is None:
        raise RowError("channel: missing")
    channel = channel.lower()
    if channel not in CHANNELS:
        raise RowError(f"channel: not one of {', '.join(sorted(CHANNELS))}")
    verified = _verified_kinds(raw)
    sender: list[tuple[str, str, str]] = []
    for kind in IDENTIFIER_KINDS:
        value = _text(raw, kind) if kind in raw else None
        if value is None:
            if kind in verified:
                raise RowError(f"verified: lists {kind}, but the row has no {kind}")
            continue
        vouched = options.trust_verified and kind in verified
        trust = trust_of(IMPORT_EVIDENCE if vouched else None)
        sender.append((kind, _NORMALISE[kind](value), trust.value))
    if not sender:
        raise RowError(f"no identifier: give at least one of {', '.join(IDENTIFIER_KINDS)}")
    subject = _single_line(raw, "subject", MAX_SUBJECT)
    text = _text(raw, "text") or ""
    if len(text) > MAX_TEXT:
        raise RowError(f"text: longer than {MAX_TEXT} characters")
    if not _MULTI_LINE.match(text):
        raise RowError("text: contains a control character")
    if not text and not subject:
        raise RowError("text: missing (give a text or at least a subject)")
    status = (_single_line(raw, "case_status", 32) or DEFAULT_CASE_STATUS).lower()
    if status not in CASE_STATUSES:
        raise RowError(f"case_status: not one of {', '.join(CASE_STATUSES)}")
    return Contact(
        row=row,
        received_at=received_at,
        channel=channel,
        sender=tuple(sender),
        display_name=_single_line(raw, "name", MAX_NAME),
        subject=subject,
        text=text,
        case_number=_single_line(raw, "case_number", MAX_CASE_NUMBER),
        team=_single_line(raw, "team", MAX_TEAM),
        case_status=status,
    )
