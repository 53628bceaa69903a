"""The bulk import (ops/importer/): reading, checking and encoding rows, the reject file
and the checkpoint, without a broker (dry runs). With Kafka: tests/integration/test_import.py."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from ops import importer
from ops.importer import Contact, ImportFileError, Options, RowError, Target, parse_row
from services.router.domain.model import (
    Case,
    imported_case,
    match_case,
    owner_for_new_case,
)
from shared.contracts import (
    Channel,
    InboundMessage,
    MessageReceived,
    SenderIdentifier,
    Trust,
    to_cloudevent,
)
from shared.envelope import CloudEvent, source_urn
from shared.identifiers import sender_key

SAMPLES = Path(__file__).resolve().parents[2] / "ops" / "samples"
SOURCE = source_urn("00000000000000000000", "eenloket-import")
NOW = datetime(2026, 11, 1, tzinfo=UTC)
GOOD = {
    "date": "2021-03-04T09:15:00+01:00",
    "channel": "phone",
    "bsn": "111222333",
    "email": "J.deVries@Example.NL",
    "phone": "06 12345678",
    "verified": "bsn;email",
    "name": "J. de Vries",
    "subject": "Container",
    "text": "Niet geleegd.",
    "case_number": "CRM-42",
    "team": "afval",
}


def row(**changes: object) -> dict[str, object]:
    out: dict[str, object] = {**GOOD, **changes}
    return {k: v for k, v in out.items() if v is not None}


def parse(raw: dict[str, object], **options: object) -> Contact:
    return parse_row(raw, 1, Options(now=NOW, **options))  # type: ignore[arg-type]


def test_a_good_row_is_normalised_as_ingest_normalises() -> None:
    c = parse(row())
    assert c.received_at == datetime(2021, 3, 4, 8, 15, tzinfo=UTC)
    assert c.channel == "phone"
    assert c.sender == (
        ("bsn", "111222333", "claimed"),
        ("email", "j.devries@example.nl", "claimed"),
        ("phone", "+31612345678", "claimed"),
    )
    assert (c.display_name, c.subject, c.text, c.case_number, c.team) == (
        "J. de Vries",
        "Container",
        "Niet geleegd.",
        "CRM-42",
        "afval",
    )


def test_identifiers_are_claimed_unless_the_operator_trusts_the_old_crm() -> None:
    trusted = parse(row(), trust_verified=True)
    assert trusted.sender == (
        ("bsn", "111222333", "verified"),
        ("email", "j.devries@example.nl", "verified"),
        ("phone", "+31612345678", "claimed"),  # not listed under 'verified'
    )
    assert parse(row(verified=["bsn"]), trust_verified=True).sender[0][2] == "verified"
    assert all(t == "claimed" for _, _, t in parse(row(verified="bsn email")).sender)
    assert not any(t == "authenticated" for _, _, t in trusted.sender)


def test_timestamps_without_offset_are_local_time() -> None:
    summer = parse(row(date="2021-07-01 12:00:00"))
    assert summer.received_at == datetime(2021, 7, 1, 10, 0, tzinfo=UTC)  # CEST
    utc = parse(row(date="2021-07-01T12:00:00"), timezone=ZoneInfo("UTC"))
    assert utc.received_at == datetime(2021, 7, 1, 12, 0, tzinfo=UTC)
    assert parse(row(date="2021-07-01T12:00:00Z")).received_at.hour == 12


def test_spreadsheet_damage_is_repaired() -> None:
    c = parse(row(bsn="12345672", kvk="1234567", email=None, phone=None, verified=None))
    assert c.sender == (("bsn", "012345672", "claimed"), ("kvk", "01234567", "claimed"))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"date": None}, "date: missing"),
        ({"date": "04-03-2021 09:15"}, "date: not an ISO 8601 date-time"),
        ({"date": "2021-03-04"}, "date: a date without a time"),
        ({"date": (NOW + timedelta(days=2)).isoformat()}, "date: in the future"),
        ({"channel": None}, "channel: missing"),
        ({"channel": "fax"}, "channel: not one of"),
        ({"bsn": "111222334"}, "bsn: not 9 digits passing the 11-proef"),
        ({"kvk": "12ab"}, "kvk: not 8 digits"),
        ({"email": "jan at example.nl"}, "email: not an e-mail address"),
        ({"phone": "0612"}, "phone: not a valid phone number"),
        ({"phone": "call me"}, "phone: not a phone number"),
        ({"verified": "bsn;shoe"}, "verified: unknown identifier kind"),
        ({"verified": "kvk"}, "verified: lists kvk, but the row has no kvk"),
        (
            {"bsn": None, "email": None, "phone": None, "verified": None},
            "no identifier: give at least one of",
        ),
        ({"subject": "two\nlines"}, "subject: contains a line break"),
        ({"subject": None, "text": "  "}, "text: missing"),
        ({"text": "bell\x07"}, "text: contains a control character"),
        ({"name": "x" * 201}, "name: longer than 200"),
        ({"team": "t" * 65}, "team: longer than 64"),
        ({"text": {"nested": 1}}, "text: expected text"),
    ],
)
def test_bad_rows_are_refused_with_a_reason_that_names_no_value(
    changes: dict[str, object], reason: str
) -> None:
    with pytest.raises(RowError) as refused:
        parse(row(**changes))
    message = str(refused.value)
    assert message.startswith(reason)
    for value in changes.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in message


def message_of(c: Contact, mid: uuid.UUID) -> InboundMessage:
    return InboundMessage(
        message_id=mid,
        channel=Channel(c.channel),
        received_at=c.received_at,
        sender=[
            SenderIdentifier.model_validate(
                {"kind": k, "value": v, "trust": t}
                | ({"evidence": "crm-import"} if t == "verified" else {})
            )
            for k, v, t in c.sender
        ],
        display_name=c.display_name,
        subject=c.subject,
        text=c.text,
        thread_refs=importer.thread_refs(c),
        owner_team_hint=c.team,
        case_status_hint=c.case_status,
    )


@pytest.mark.parametrize("trust", [False, True])
def test_the_bytes_are_what_ingest_would_publish(trust: bool) -> None:
    c = parse(row(date="2021-03-04T09:15:00.250+01:00", name=None), trust_verified=trust)
    mid = importer.message_id("f" * 64, 7)
    expected = to_cloudevent(
        MessageReceived(message=message_of(c, mid)),
        source=SOURCE,
        subject=mid,
        event_id=mid,
        time=c.received_at,
    )
    encoded = importer.encode(c, mid, SOURCE)
    assert encoded == expected.to_json()
    event = CloudEvent.from_json(encoded)
    assert event.id == mid
    received = MessageReceived.model_validate(event.data).message
    assert received.received_at == c.received_at
    assert received.thread_refs == ["import:CRM-42"]
    assert received.owner_team_hint == "afval"
    # The record key: ingest's HMAC of the strongest identifier.
    keys = importer.SenderKeys(b"secret")
    assert keys.key(c, mid) == sender_key(message_of(c, mid), b"secret")
    assert keys.key(c, mid) == sender_key(message_of(c, mid), b"secret")  # cached
    assert keys.key(c, mid) != importer.SenderKeys(b"other").key(c, mid)


def test_ids_are_the_same_for_the_same_file_and_row_only() -> None:
    a = importer.message_id("a" * 64, 1)
    assert a == importer.message_id("a" * 64, 1)
    assert a != importer.message_id("a" * 64, 2)
    assert a != importer.message_id("b" * 64, 1)


def test_fast_ids_and_partitions_are_the_standard_ones() -> None:
    ids = importer.MessageIds("c" * 64)
    for n in (1, 2, 99, 123_456):
        assert ids(n) == str(importer.message_id("c" * 64, n)) == str(uuid.UUID(ids(n)))
    batches = importer._Batches(None, "t", [2, 0, 1])
    for n in range(50):
        key = f"key-{n}".encode()
        assert batches._partition(key) == DefaultPartitioner()(key, [0, 1, 2], [0, 1, 2])


def test_the_format_comes_from_the_name_or_the_flag(tmp_path: Path) -> None:
    assert importer.detect_format(Path("x.jsonl"), None) == "ndjson"
    assert importer.detect_format(Path("x.CSV"), None) == "csv"
    assert importer.detect_format(Path("x.txt"), "csv") == "csv"
    with pytest.raises(ImportFileError, match="cannot tell the format"):
        importer.detect_format(Path("x.txt"), None)
    with pytest.raises(ImportFileError, match="unknown format"):
        importer.detect_format(Path("x.csv"), "xml")


def rows_of(path: Path, fmt: str) -> list[importer.RawRow]:
    return list(importer.read_rows(path, fmt, importer._Counter()))


def test_csv_semicolons_bom_and_line_breaks_inside_fields(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(
        "\ufeffDate;Channel;Email;Text\n"
        '2021-01-01T10:00:00Z;email;a@example.nl;"two\nlines"\n'
        "\n"
        "2021-01-02T10:00:00Z;email;b@example.nl\n"
        "2021-01-03T10:00:00Z;web;c@example.nl;drie\n".encode()
    )
    assert importer.check_csv_header(path) == []
    read = rows_of(path, "csv")
    assert [r[0] for r in read] == [2, 4, 5]  # as a spreadsheet numbers them
    assert read[0][1] == {
        "date": "2021-01-01T10:00:00Z",
        "channel": "email",
        "email": "a@example.nl",
        "text": "two\nlines",
    }
    assert read[1][1] is None
    assert read[1][3] == "fields: 3 where the header has 4"
    assert read[2][1] is not None


def test_csv_without_required_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("when,channel,email,colour\n")
    with pytest.raises(ImportFileError, match="lacks column"):
        importer.check_csv_header(path)
    path.write_text("date,channel,email,colour\n")
    assert importer.check_csv_header(path) == ["colour"]


def test_ndjson_rows_are_numbered_by_line(tmp_path: Path) -> None:
    path = tmp_path / "export.ndjson"
    path.write_bytes(b'{"a": 1}\n\n[1, 2]\n{broken\n{"b": 2}\n')
    read = rows_of(path, "ndjson")
    assert [(n, raw, reason) for n, raw, _, reason in read] == [
        (1, {"a": 1}, None),
        (3, None, "json: not a JSON object"),
        (4, None, "json: not a JSON object"),
        (5, {"b": 2}, None),
    ]
    assert read[2][2] == "{broken"


@pytest.mark.parametrize("name", ["contacts.ndjson", "contacts.csv"])
def test_the_samples_are_valid(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes((SAMPLES / name).read_bytes())
    summary = asyncio.run(dry_run(path))
    assert summary.rejected == 0
    assert summary.published >= 4


async def dry_run(path: Path, **kwargs: object) -> importer.Summary:
    return await importer.import_contacts(
        path,
        Target(None, "unused", SOURCE, b"s"),
        options=Options(now=NOW),
        **kwargs,  # type: ignore[arg-type]
    )


def contacts_file(path: Path, good: int, bad_every: int) -> None:
    lines = []
    for n in range(1, good + 1):
        if n % bad_every == 0:
            lines.append(orjson.dumps(row(channel="fax", text=f"row {n}")))
        else:
            lines.append(orjson.dumps(row(text=f"row {n}")))
    path.write_bytes(b"\n".join(lines) + b"\n")


class CrashError(RuntimeError):
    pass


def test_rejects_checkpoint_and_resume_without_doubles(tmp_path: Path) -> None:
    path = tmp_path / "export.ndjson"
    contacts_file(path, 100, bad_every=7)
    checkpoint, rejects = importer.default_paths(path)

    def crash_after_two_chunks(s: importer.Summary) -> None:
        if s.read >= 40:
            raise CrashError

    with pytest.raises(CrashError):
        asyncio.run(dry_run(path, chunk=20, progress=crash_after_two_chunks))
    state = orjson.loads(checkpoint.read_bytes())
    # The second chunk was still in flight when the crash came: only the first is done.
    assert state["row"] == 20
    assert state["complete"] is False
    assert len(rejects.read_bytes().splitlines()) > 2  # rejects past the checkpoint, too

    resumed = asyncio.run(dry_run(path, chunk=20))
    assert resumed.resumed
    assert resumed.skipped == 20
    assert resumed.read == 80
    assert resumed.total_published + resumed.total_rejected == 100
    assert resumed.total_rejected == 100 // 7
    entries = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert [e["row"] for e in entries] == [n for n in range(1, 101) if n % 7 == 0]
    assert all(e["reason"].startswith("channel: not one of") for e in entries)
    assert orjson.loads(entries[0]["original"])["text"] == "row 7"

    again = asyncio.run(dry_run(path))
    assert (again.read, again.skipped, again.published) == (0, 100, 0)


def test_a_dry_run_keeps_no_checkpoint_and_its_own_rejects(tmp_path: Path) -> None:
    path = tmp_path / "export.ndjson"
    contacts_file(path, 10, bad_every=5)
    checkpoint, rejects = importer.default_paths(path)
    rejects.write_bytes(b"the rejects of a real run\n")
    summary = asyncio.run(
        importer.import_to_kafka(
            path, bootstrap="unused", topic="t", source=SOURCE, key_secret=b"s", dry_run=True
        )
    )
    assert (summary.published, summary.rejected) == (8, 2)
    assert not checkpoint.exists()
    assert rejects.read_bytes() == b"the rejects of a real run\n"
    _, dry_rejects = importer.default_paths(path, dry_run=True)
    assert len(dry_rejects.read_bytes().splitlines()) == 2


def test_a_changed_file_or_trust_setting_does_not_resume(tmp_path: Path) -> None:
    path = tmp_path / "export.ndjson"
    contacts_file(path, 10, bad_every=100)
    asyncio.run(dry_run(path))
    with pytest.raises(ImportFileError, match="trust setting"):
        asyncio.run(
            importer.import_contacts(
                path, Target(None, "t", SOURCE, b"s"), options=Options(now=NOW, trust_verified=True)
            )
        )
    path.write_bytes(path.read_bytes() + orjson.dumps(row()) + b"\n")
    with pytest.raises(ImportFileError, match="belongs to another file"):
        asyncio.run(dry_run(path))


# --- the router's side: the old case stays a case, the old team owns it ------------------


def imported(refs: list[str], team: str | None) -> InboundMessage:
    return InboundMessage(
        message_id=uuid.uuid4(),
        channel=Channel.PHONE,
        received_at=NOW,
        sender=[SenderIdentifier(kind="email", value="a@example.nl", trust=Trust.CLAIMED)],
        thread_refs=refs,
        owner_team_hint=team,
    )


def test_an_imported_case_is_not_folded_into_another_open_case() -> None:
    party = uuid.uuid4()
    open_case = Case(
        id=uuid.uuid4(),
        number="ZAAK-2026-0000000001",
        party_id=party,
        product=None,
        status="open",
        owner_team="kcc",
        opened_at=NOW,
        last_activity_at=NOW,
    )
    common = {
        "party_ids": frozenset({party}),
        "quoted": None,
        "quoted_number": None,
        "party_cases": [open_case],
        "product": None,
        "now": NOW,
        "window_days": 30,
    }
    assert match_case(threaded=[], **common).case == open_case  # type: ignore[arg-type]
    fresh = match_case(threaded=[], own_case=True, **common)  # type: ignore[arg-type]
    assert (fresh.case, fresh.rule) == (None, "new-case")
    known = match_case(threaded=[open_case], own_case=True, **common)  # type: ignore[arg-type]
    assert (known.case, known.rule) == (open_case, "thread")
    assert imported_case(imported(["import:CRM-1"], None))
    assert not imported_case(imported(["email:<x@y>"], None))


def test_the_old_team_owns_a_new_case_only_if_routing_knows_it() -> None:
    teams = {"kcc", "afval"}
    assert owner_for_new_case(imported([], "afval"), "kcc", teams) == "afval"
    assert owner_for_new_case(imported([], "Afdeling Afval"), "kcc", teams) == "kcc"
    assert owner_for_new_case(imported([], None), "burgerzaken", teams) == "burgerzaken"
