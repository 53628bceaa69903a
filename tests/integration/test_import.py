"""`eenloket import contacts` against a real broker and the router on real PostgreSQL: bad rows
go to the reject file, a crashed import resumes, and every contact is routed exactly once with
its original timestamp, even when rows reach Kafka twice."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from ops import importer
from ops.cli import app
from services.caseview.rebuild import end_offsets
from services.router import orm
from services.router.bootstrap import create_app
from shared.db.engine import create_engine, session_factory
from shared.envelope import source_urn
from tests.apps import serve
from tests.conftest import Topics
from tests.support import eventually, router_settings, within

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

runner = CliRunner()
SOURCE = source_urn("00000000000000000000", "eenloket-import")
SECRET = b"dev-only-change-me"  # ingest's development default, which the CLI uses too
BSNS = ["111222333", "123456782", "999999990", "100000009"]
START = datetime(2019, 2, 1, 8, 30, tzinfo=UTC)


def contacts(run: str) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Good rows (four people, each with two old cases of three contacts) and bad rows.

    Returns the rows in file order and the (line, reason prefix) of every bad one."""
    rows: list[dict[str, Any]] = []
    bad: list[tuple[int, str]] = []
    for n in range(24):
        person = n % 4
        row: dict[str, Any] = {
            "date": (START + timedelta(days=n, minutes=person)).isoformat(),
            "channel": ["phone", "email", "counter", "letter"][n % 4],
            "bsn": BSNS[person],
            "email": f"inwoner{person}-{run}@example.nl",
            "verified": "bsn",
            "subject": f"Vraag {n}",
            "text": f"Contact {n} uit het oude systeem.",
            "case_number": f"OUD-{run}-{person}-{(n // 4) % 2}",
            "team": "afval",
        }
        rows.append(row)
        if n in (5, 17):
            rows.append({**row, "channel": "fax"})
            bad.append((len(rows), "channel: not one of"))
        if n == 11:
            rows.append({**row, "bsn": "111222334"})
            bad.append((len(rows), "bsn: not 9 digits passing the 11-proef"))
    return rows, bad


@contextlib.asynccontextmanager
async def router(kafka_bootstrap: str, url: str, topics: Topics) -> AsyncIterator[None]:
    async with serve(create_app(router_settings(kafka_bootstrap, url, topics))):
        yield


async def records_on(kafka_bootstrap: str, topic: str) -> int:
    ends = await end_offsets(kafka_bootstrap, topic, f"test-ends-{uuid.uuid4().hex[:8]}")
    return sum(ends.values())


async def route_all(
    kafka_bootstrap: str, url: str, topics: Topics, ids: dict[str, int]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the router until it consumed the inbound topic; the ``message.routed`` data of
    ``ids`` (from its outbox) and every case's row (owning team, status, opened_at)."""
    # Each phase has its own deadline: this test hung once in CI, and a hang should name
    # the phase it hung in (end offsets, router start, consuming, router shutdown).
    async with within(30, "reading the inbound topic's end offsets"):
        on_topic = await records_on(kafka_bootstrap, topics.inbound)
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:

        async def consumed() -> bool:
            async with sessions() as s:
                done = await s.scalar(
                    select(func.coalesce(func.sum(orm.consumer_offsets.c.next_offset), 0)).where(
                        orm.consumer_offsets.c.topic == topics.inbound
                    )
                )
            return done == on_topic

        async with contextlib.AsyncExitStack() as running:
            async with within(60, "starting the router"):
                await running.enter_async_context(router(kafka_bootstrap, url, topics))
            await eventually(consumed, timeout=60)
            async with within(60, "stopping the router"):
                await running.aclose()
        async with sessions() as s:
            payloads = await s.execute(
                select(orm.outbox.c.payload).where(
                    orm.outbox.c.type == "nl.eenloket.message.routed"
                )
            )
            routed = [p["data"] for (p,) in payloads if p["data"]["message_id"] in ids]
            cases = {
                str(row.id): row
                for row in await s.execute(
                    select(
                        orm.cases.c.id,
                        orm.cases.c.owner_team,
                        orm.cases.c.status,
                        orm.cases.c.opened_at,
                    )
                )
            }
    finally:
        await engine.dispose()
    return routed, cases


class CrashError(RuntimeError):
    pass


async def test_import_rejects_bad_rows_resumes_and_routes_each_contact_once(
    kafka_bootstrap: str, pg_urls: dict[str, str], topics: Topics, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    rows, bad = contacts(run)
    path = tmp_path / "oud-crm.ndjson"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    checkpoint, rejects = importer.default_paths(path)
    good = len(rows) - len(bad)

    # 1. A run that crashes after its first chunks: the second chunk was sent but never
    #    checkpointed, so the resumed run sends it again.
    def crash(summary: importer.Summary) -> None:
        if summary.read >= 20:
            raise CrashError

    with pytest.raises(CrashError):
        await importer.import_to_kafka(
            path,
            bootstrap=kafka_bootstrap,
            topic=topics.inbound,
            source=SOURCE,
            key_secret=SECRET,
            options=importer.Options(trust_verified=True),
            chunk=10,
            progress=crash,
        )
    assert orjson.loads(checkpoint.read_bytes())["row"] == 10
    sent_before = await records_on(kafka_bootstrap, topics.inbound)
    assert sent_before > 9  # rows past the checkpoint reached Kafka: they will come twice

    # 2. Resume through the command, as an operator would.
    env = {"EENLOKET_TOPIC_INBOUND": topics.inbound, "EENLOKET_ENVIRONMENT": "test"}
    args = ["import", "contacts", str(path), "--trust-verified", "--bootstrap", kafka_bootstrap]
    resumed = await asyncio.to_thread(runner.invoke, app, args, env=env)
    assert resumed.exit_code == 0, resumed.output
    assert "skipped (done by an earlier run)" in resumed.output
    assert f"{len(rows)} - 10" not in resumed.output
    state = orjson.loads(checkpoint.read_bytes())
    assert (state["row"], state["published"], state["rejected"], state["complete"]) == (
        len(rows),
        good,
        len(bad),
        True,
    )
    # Personal data stays out of the command's output.
    assert BSNS[0] not in resumed.output and "@example.nl" not in resumed.output

    # The reject file: each bad row once (the crash wrote some of them before), with the
    # row number, the reason and the original line.
    entries = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert [
        (e["row"], e["reason"][: len(r)]) for e, (_, r) in zip(entries, bad, strict=True)
    ] == bad
    assert [orjson.loads(e["original"]) for e in entries] == [rows[n - 1] for n, _ in bad]

    # 3. Somebody deletes the checkpoint and imports the whole file again.
    checkpoint.unlink()
    again = await asyncio.to_thread(runner.invoke, app, args, env=env)
    assert again.exit_code == 0, again.output
    on_topic = await records_on(kafka_bootstrap, topics.inbound)
    assert on_topic > good + 9  # plenty of duplicates on the topic

    # 4. The router routes every contact once, with its original timestamp.
    ids = {
        str(importer.message_id(importer.file_sha256(path), n)): n for n in range(1, len(rows) + 1)
    }
    routed, _ = await route_all(kafka_bootstrap, pg_urls["router"], topics, ids)
    per_id = Counter(data["message_id"] for data in routed)
    assert len(per_id) == good
    assert set(per_id.values()) == {1}, "a contact was routed twice"
    by_line = {ids[data["message_id"]]: data for data in routed}
    assert set(by_line) == {n for n in range(1, len(rows) + 1)} - {n for n, _ in bad}
    for line, data in by_line.items():
        original = datetime.fromisoformat(rows[line - 1]["date"])
        assert datetime.fromisoformat(data["received_at"]) == original
        assert data["text"] == rows[line - 1]["text"]

    # One party per person (verified BSN), and the contacts of one old case in one case.
    parties_by_bsn: dict[str, set[str]] = {}
    cases_by_old: dict[str, set[str]] = {}
    for line, data in by_line.items():
        row = rows[line - 1]
        parties_by_bsn.setdefault(row["bsn"], set()).add(data["party_id"])
        cases_by_old.setdefault(row["case_number"], set()).add(data["case_id"])
    assert all(len(p) == 1 for p in parties_by_bsn.values()), parties_by_bsn
    assert len({p for ps in parties_by_bsn.values() for p in ps}) == 4
    assert len(cases_by_old) == 8
    assert all(len(c) == 1 for c in cases_by_old.values()), cases_by_old


def test_the_command_refuses_a_missing_file_and_a_missing_topic(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    missing = runner.invoke(app, ["import", "contacts", str(tmp_path / "nope.ndjson")])
    assert missing.exit_code == 1
    assert "no such file" in missing.output

    path = tmp_path / "one.csv"
    path.write_text("date,channel,email,text\n2020-01-01T10:00:00Z,email,a@example.nl,Hallo\n")
    env = {"EENLOKET_TOPIC_INBOUND": f"absent.{uuid.uuid4().hex[:8]}"}
    absent = runner.invoke(
        app, ["import", "contacts", str(path), "--bootstrap", kafka_bootstrap], env=env
    )
    assert absent.exit_code == 1
    assert "does not exist" in absent.output

    checked = runner.invoke(app, ["import", "contacts", str(path), "--dry-run"], env=env)
    assert checked.exit_code == 0, checked.output
    assert "valid, not published (dry run)" in checked.output


async def test_old_cases_stay_apart_and_keep_their_old_team(
    kafka_bootstrap: str, pg_urls: dict[str, str], topics: Topics, tmp_path: Path
) -> None:
    rows, _ = contacts(uuid.uuid4().hex[:8])
    for r in rows:
        if r["case_number"].endswith("-0"):  # one old case of each person is still worked on
            r["case_status"] = "in behandeling"
    path = tmp_path / "oud-crm.ndjson"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    await importer.import_to_kafka(
        path,
        bootstrap=kafka_bootstrap,
        topic=topics.inbound,
        source=SOURCE,
        key_secret=SECRET,
        options=importer.Options(trust_verified=True),
    )
    sha = importer.file_sha256(path)
    ids = {str(importer.message_id(sha, n)): n for n in range(1, len(rows) + 1)}
    routed, cases_by_id = await route_all(kafka_bootstrap, pg_urls["router"], topics, ids)
    cases_by_old: dict[str, set[str]] = {}
    for data in routed:
        old = rows[ids[data["message_id"]] - 1]["case_number"]
        cases_by_old.setdefault(old, set()).add(data["case_id"])
    assert all(len(c) == 1 for c in cases_by_old.values())
    cases = {c for cs in cases_by_old.values() for c in cs}
    assert len(cases) == len(cases_by_old) == 8, "old cases were folded together"
    assert {cases_by_id[c].owner_team for c in cases} == {"afval"}  # not the routing file's
    # History keeps its dates and arrives finished, unless the old CRM said it was not.
    first_contact: dict[str, datetime] = {}
    status_of_first: dict[str, str] = {}
    for r in rows:
        old = r["case_number"]
        if old not in first_contact:
            first_contact[old] = datetime.fromisoformat(r["date"])
            status_of_first[old] = r.get("case_status", "afgehandeld")
    for old, (case_id,) in cases_by_old.items():
        row = cases_by_id[case_id]
        assert row.opened_at == first_contact[old]
        assert row.status == status_of_first[old]
    assert sorted(status_of_first.values()).count("in behandeling") == 4
