"""Bulk import of contacts from an old CRM (`eenloket import contacts FILE`, issue #7).

Every valid row becomes one ``nl.eenloket.message.received`` event on the inbound
topic, exactly as ingest would publish it (same envelope, same record key: an HMAC
of the strongest identifier, same headers), with the contact's original timestamp.
The router then links parties and cases as for any message; caseview shows them.

- **Deterministic ids.** The message id (= CloudEvent id) of row *n* is
  ``uuid5(NAMESPACE, "<sha256 of the file>:<n>")``: importing the same file again
  publishes the same ids, and the router's processed-id check applies each once.
- **Checkpoint.** After every acknowledged chunk the checkpoint file records the
  last row done and the length of the reject file; a resumed run skips those rows
  (and truncates the reject file to that length, so no reject is written twice).
- **Bad rows** go to the reject file (NDJSON: row, reason, original) and the rest
  continues. Reasons never repeat a value from the row.
- **Fast.** Rows are checked by plain functions and encoded with orjson (no pydantic
  per row); sends are not awaited one by one: each chunk's acknowledgements are
  awaited while the next chunk is already being sent.

Trust: identifiers are imported ``claimed``, unless the operator passes
``trust_verified`` and the row lists the identifier under ``verified``: then their
evidence is the import (``crm-import``), which is worth ``verified`` (never
``authenticated``: no login of the past can be checked now). Identifiers are checked and
their rung decided by ingest's own functions (services/ingest/identifiers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import hmac
import io
import os
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from services.ingest import identifiers
from services.ingest.identifiers import MULTI_LINE, SINGLE_LINE, TRUST_ORDER, trust_of
from shared.contracts import CaseStatus, Channel, Evidence, IdentifierKind, MessageReceived, Trust
from shared.envelope import envelope_json, utc_iso
from shared.kafka.config import make_producer
from shared.kafka.headers import outgoing_headers

# Fixed forever: changing it would give every row of an earlier import a new id.
NAMESPACE = uuid.UUID("5d3f4c1e-7a0b-4b8e-9a59-2f1c0e6b7d41")
THREAD_PREFIX = "import:"
FORMATS = ("ndjson", "csv")
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
CHUNK = 5_000


class RowError(ValueError):
    """Why a row cannot be imported. The message never contains a value from the row."""


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (format, header, checkpoint mismatch)."""


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


# --- encoding: the bytes ingest would publish --------------------------------------------


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


# --- reading the file ---------------------------------------------------------------------


def detect_format(path: Path, given: str | None) -> str:
    if given:
        if given not in FORMATS:
            raise ImportFileError(f"unknown format '{given}': use {' or '.join(FORMATS)}")
        return given
    suffix = path.suffix.lower()
    if suffix in (".ndjson", ".jsonl"):
        return "ndjson"
    if suffix == ".csv":
        return "csv"
    raise ImportFileError(
        f"cannot tell the format from '{path.name}': name it .ndjson/.jsonl/.csv or pass --format"
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class _Counter:
    """Bytes consumed so far, for the progress bar."""

    done: int = 0


# A row as read: (row number, the fields as a dict or None if unreadable, the original
# for the reject file, a reason if unreadable).
RawRow = tuple[int, dict[str, Any] | None, Any, str | None]


def _ndjson_rows(f: IO[bytes], counter: _Counter) -> Iterator[RawRow]:
    for number, line in enumerate(f, start=1):
        counter.done += len(line)
        stripped = line.strip()
        if not stripped:
            continue
        try:
            value = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            yield number, None, stripped.decode("utf-8", "replace"), "json: not a JSON object"
            continue
        if not isinstance(value, dict):
            yield number, None, stripped.decode("utf-8", "replace"), "json: not a JSON object"
            continue
        yield number, value, stripped.decode("utf-8", "replace"), None


def _decoded_lines(f: IO[bytes], counter: _Counter) -> Iterator[str]:
    first = True
    for line in f:
        counter.done += len(line)
        text = line.decode("utf-8", "replace")
        if first:
            text = text.removeprefix("\ufeff")
            first = False
        yield text


def csv_header(path: Path) -> tuple[list[str], str]:
    """The header's column names and the delimiter (',' or ';', as Dutch Excel writes)."""
    with path.open("rb") as f:
        first = f.readline().decode("utf-8", "replace").removeprefix("\ufeff")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    names = next(csv.reader([first], delimiter=delimiter), [])
    return [n.strip().lower() for n in names], delimiter


def check_csv_header(path: Path) -> list[str]:
    """Raise if required columns are missing; return the unknown columns (ignored)."""
    names, _ = csv_header(path)
    missing = [c for c in REQUIRED_FIELDS if c not in names]
    if missing:
        raise ImportFileError(f"the CSV header lacks column(s): {', '.join(missing)}")
    return [n for n in names if n and n not in FIELDS]


def _csv_rows(f: IO[bytes], counter: _Counter, path: Path) -> Iterator[RawRow]:
    names, delimiter = csv_header(path)
    reader = csv.reader(_decoded_lines(f, counter), delimiter=delimiter)
    next(reader, None)  # the header
    # Numbered as a spreadsheet shows them: the header is row 1, a blank line counts.
    for number, values in enumerate(reader, start=2):
        if not values or all(not v.strip() for v in values):
            continue
        original = dict(zip(names, values, strict=False))
        if len(values) != len(names):
            yield number, None, original, f"fields: {len(values)} where the header has {len(names)}"
            continue
        yield number, original, original, None


def read_rows(path: Path, fmt: str, counter: _Counter) -> Iterator[RawRow]:
    with path.open("rb") as f:
        if fmt == "ndjson":
            yield from _ndjson_rows(f, counter)
        else:
            yield from _csv_rows(f, counter, path)


# --- checkpoint -----------------------------------------------------------------------------


@dataclass
class Checkpoint:
    file_sha256: str
    trust_verified: bool
    row: int = 0  # every row up to and including this one is published or rejected
    reject_bytes: int = 0  # the reject file's length at that point
    published: int = 0
    rejected: int = 0
    complete: bool = False

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as f:
            f.write(orjson.dumps(self.__dict__, option=orjson.OPT_INDENT_2))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Checkpoint | None:
        if not path.exists():
            return None
        try:
            data = orjson.loads(path.read_bytes())
            return cls(**data)
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise ImportFileError(
                f"checkpoint {path} is unreadable ({type(exc).__name__})"
            ) from exc


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Summary:
    """What one run did. ``skipped``: rows a previous run already finished."""

    read: int = 0
    published: int = 0
    rejected: int = 0
    skipped: int = 0
    seconds: float = 0.0
    bytes_done: int = 0
    bytes_total: int = 0
    interrupted: bool = False
    resumed: bool = False
    total_published: int = 0  # including earlier runs of the same file
    total_rejected: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.published / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Target:
    """Where the events go. ``producer`` None: a dry run (validate only)."""

    producer: AIOKafkaProducer | None
    topic: str
    source: str
    key_secret: bytes


class _Batches:
    """Records grouped into one batch per partition, sent with ``send_batch``: a third of
    the CPU of ``send()`` per record. The partition is the one ``send()`` would pick for
    the key (the default partitioner, murmur2), so a sender's imported and live messages
    share a partition, as they would through ingest."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, partitions: list[int]) -> None:
        self._producer, self._topic, self._partitions = producer, topic, sorted(partitions)
        self._open: dict[int, Any] = {}
        self._by_key: dict[bytes, int] = {}
        self.futures: list[asyncio.Future[Any]] = []

    def _partition(self, key: bytes) -> int:
        found = self._by_key.get(key)
        if found is None:
            found = self._partitions[(murmur2(key) & 0x7FFFFFFF) % len(self._partitions)]
            if len(self._by_key) < 1_000_000:
                self._by_key[key] = found
        return found

    async def add(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        partition = self._partition(key)
        batch = self._open.get(partition)
        if batch is None:
            batch = self._open[partition] = self._producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
            await self._send(partition, batch)
            batch = self._open[partition] = self._producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                raise RowError("the record is larger than a Kafka batch")

    async def _send(self, partition: int, batch: Any) -> None:
        batch.close()
        self.futures.append(
            await self._producer.send_batch(batch, self._topic, partition=partition)
        )

    async def flush(self) -> list[asyncio.Future[Any]]:
        """Send every open batch; return the futures of everything sent since last time."""
        for partition, batch in list(self._open.items()):
            await self._send(partition, batch)
        self._open.clear()
        futures, self.futures = self.futures, []
        return futures


@dataclass
class _Chunk:
    last_row: int
    futures: list[asyncio.Future[Any]]
    published: int
    rejected: int
    reject_bytes: int


def default_paths(path: Path, *, dry_run: bool = False) -> tuple[Path, Path]:
    """(checkpoint, reject file) beside the input. A dry run has its own reject file, so it
    never overwrites the rejects of a real import in progress."""
    rejects = ".dry-run.rejects.ndjson" if dry_run else ".rejects.ndjson"
    return path.with_name(path.name + ".checkpoint.json"), path.with_name(path.name + rejects)


def _prepare(
    path: Path,
    fmt: str | None,
    options: Options,
    checkpoint_path: Path | None,
    reject_path: Path | None,
    use_checkpoint: bool,
) -> tuple[str, Checkpoint, Path, IO[bytes], int]:
    """Check the file and its checkpoint; open the reject file at the checkpointed length."""
    fmt = detect_format(path, fmt)
    if not path.is_file():
        raise ImportFileError(f"no such file: {path}")
    default_checkpoint, default_rejects = default_paths(path, dry_run=not use_checkpoint)
    checkpoint_path = checkpoint_path or default_checkpoint
    reject_path = reject_path or default_rejects
    if fmt == "csv":
        check_csv_header(path)
    sha = file_sha256(path)
    state = Checkpoint.load(checkpoint_path) if use_checkpoint else None
    if state is not None and state.file_sha256 != sha:
        raise ImportFileError(
            f"checkpoint {checkpoint_path.name} belongs to another file (the contents changed); "
            "move it away to import this file as a new one"
        )
    if state is not None and state.trust_verified != options.trust_verified:
        raise ImportFileError(
            "the checkpoint was made with"
            + ("" if state.trust_verified else "out")
            + " --trust-verified; resume with the same trust setting"
        )
    state = state or Checkpoint(file_sha256=sha, trust_verified=options.trust_verified)
    # The reject file holds exactly the rejects of the checkpointed rows, then the new ones.
    rejects = reject_path.open("r+b" if state.row and reject_path.exists() else "wb")
    rejects.truncate(state.reject_bytes if state.row else 0)
    rejects.seek(0, io.SEEK_END)
    return sha, state, checkpoint_path, rejects, path.stat().st_size


async def import_contacts(
    path: Path,
    target: Target,
    *,
    fmt: str | None = None,
    options: Options | None = None,
    checkpoint_path: Path | None = None,
    reject_path: Path | None = None,
    progress: Callable[[Summary], None] | None = None,
    stop: asyncio.Event | None = None,
    chunk: int = CHUNK,
    use_checkpoint: bool = True,
) -> Summary:
    """Import ``path``; resume from its checkpoint if there is one.

    ``use_checkpoint`` False (a dry run): neither read nor write the checkpoint.

    ``progress`` is called after each chunk; ``stop`` set ends the run at the next
    chunk boundary with everything sent acknowledged and checkpointed.
    """
    options = options or Options()
    started = time.perf_counter()
    sha, state, checkpoint_file, rejects, size = await asyncio.to_thread(
        _prepare, path, fmt, options, checkpoint_path, reject_path, use_checkpoint
    )
    fmt = detect_format(path, fmt)
    summary = Summary(bytes_total=size, resumed=state.row > 0 or state.complete)
    summary.total_published, summary.total_rejected = state.published, state.rejected

    keys = SenderKeys(target.key_secret)
    headers = outgoing_headers()
    producer, source = target.producer, target.source
    ids = MessageIds(sha)
    batches = (
        _Batches(producer, target.topic, list(await producer.partitions_for(target.topic)))
        if producer is not None
        else None
    )
    counter = _Counter()
    pending: deque[_Chunk] = deque()
    in_chunk = published = rejected = 0
    last_row = state.row

    def reject(row: int, original: Any, reason: str) -> None:
        nonlocal rejected
        rejects.write(orjson.dumps({"row": row, "reason": reason, "original": original}) + b"\n")
        rejected += 1
        summary.rejected += 1
        label = reason.split(":", 1)[0]
        summary.reject_reasons[label] = summary.reject_reasons.get(label, 0) + 1

    async def drain(done: _Chunk) -> None:
        if done.futures:
            await asyncio.gather(*done.futures)
        state.row = done.last_row
        state.published += done.published
        state.rejected += done.rejected
        state.reject_bytes = done.reject_bytes
        summary.total_published, summary.total_rejected = state.published, state.rejected
        if use_checkpoint:
            await asyncio.to_thread(state.save, checkpoint_file)

    def report() -> None:
        summary.seconds = time.perf_counter() - started
        summary.bytes_done = counter.done
        if progress is not None:
            progress(summary)

    try:
        for row, raw, original, unreadable in read_rows(path, fmt, counter):
            if row <= state.row:
                summary.skipped += 1
                continue
            summary.read += 1
            last_row = row
            in_chunk += 1
            if unreadable is not None or raw is None:
                reject(row, original, unreadable or "unreadable")
            else:
                try:
                    contact = parse_row(raw, row, options)
                except RowError as exc:
                    reject(row, original, str(exc))
                else:
                    mid = ids(row)
                    value = encode(contact, mid, source)
                    if batches is not None:
                        await batches.add(keys.key(contact, mid), value, headers)
                    published += 1
                    summary.published += 1
            if in_chunk >= chunk:
                rejects.flush()
                os.fsync(rejects.fileno())
                futures = await batches.flush() if batches is not None else []
                pending.append(_Chunk(last_row, futures, published, rejected, rejects.tell()))
                in_chunk, published, rejected = 0, 0, 0
                while len(pending) > 1:  # one chunk in flight while the next is sent
                    await drain(pending.popleft())
                report()
                if stop is not None and stop.is_set():
                    summary.interrupted = True
                    break
                await asyncio.sleep(0)  # let the producer's sender run
        rejects.flush()
        os.fsync(rejects.fileno())
        if in_chunk:
            futures = await batches.flush() if batches is not None else []
            pending.append(_Chunk(last_row, futures, published, rejected, rejects.tell()))
        while pending:
            await drain(pending.popleft())
        if not summary.interrupted:
            state.complete = True
            if use_checkpoint:
                await asyncio.to_thread(state.save, checkpoint_file)
    finally:
        with contextlib.suppress(Exception):
            rejects.close()
    report()
    return summary


async def import_to_kafka(
    path: Path,
    *,
    bootstrap: str,
    topic: str,
    source: str,
    key_secret: bytes,
    dry_run: bool = False,
    **kwargs: Any,
) -> Summary:
    """``import_contacts`` with its own producer, tuned for bulk (safety settings unchanged)."""
    if dry_run:
        return await import_contacts(
            path, Target(None, topic, source, key_secret), use_checkpoint=False, **kwargs
        )
    producer = make_producer(
        bootstrap,
        "eenloket-import",
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    try:
        # A missing topic would be auto-created by some brokers with the wrong partition count.
        metadata = await producer.client.fetch_all_metadata()
        if topic not in metadata.topics():
            raise ImportFileError(
                f"topic {topic} does not exist: create it first (eenloket topics ensure)"
            )
        return await import_contacts(path, Target(producer, topic, source, key_secret), **kwargs)
    finally:
        await producer.stop()
