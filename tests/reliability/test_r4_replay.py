"""R4 — replay: rebuilding caseview from offset 0 gives the same read model.

The timeline is the router's own: a few hundred mixed messages (residents logged in
on web, app and counter; e-mail senders who thread replies and quote a resident's
BSN, so the router suggests links; phone calls) and then staff commands (handovers,
participants, notes, status changes, closures, link decisions that merge, merges and
an unmerge). Caseview projects it with its normal consumer into a database of its
own; then ``services/caseview/rebuild.py`` replays the topic from offset 0 into a
shadow and switches over, under the running projector.

Pass: a hash over the contents of every table of caseview's database, found by
reflection, is the same before and after. Columns left out, and why:

- ``timeline_entries.position``: the live-stream cursor, re-numbered above every
  position handed out before on purpose (an SSE client resuming with an old id gets
  entries again rather than missing one);
- ``processed_events.processed_at`` and ``consumer_offsets.updated_at``: the wall-clock
  time the rebuild consumer applied a batch.

The rebuild's own hash (``projection_hash``) is not used: this one is independent of it.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from services.caseview import orm as cv
from services.caseview.rebuild import rebuild
from shared.contracts import Actor, Channel, IdentifierKind, InboundMessage, Trust
from shared.contracts import commands as c
from shared.contracts.base import Event
from shared.envelope import CloudEvent
from shared.kafka.config import make_producer
from tests.conftest import Topics
from tests.integration.caseview.conftest import projected, running, settings_for
from tests.integration.test_router import bsn, command, message, send
from tests.reliability.conftest import sized
from tests.reliability.inproc import (
    CASEVIEW_MIGRATIONS,
    database_rows,
    drain,
    engine_for,
    fresh_database,
    record_history,
    router_caught_up,
    rows_diff,
    rows_hash,
    running_router,
)
from tests.support import router_settings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SKIP_COLUMNS = {
    "timeline_entries": {"position"},
    "processed_events": {"processed_at"},
    "consumer_offsets": {"updated_at"},
}
PRODUCTS = ["paspoort", "bijstand", "afval", None, "evenementenvergunning", "parkeren"]
CLERK = Actor(user="medewerker-r4", team="kcc")


def inbound_mix(n: int, rng: random.Random) -> list[tuple[bytes, InboundMessage]]:
    """``n`` messages of residents, e-mail senders and callers, each with its record key."""
    residents = [bsn() for _ in range(max(4, n // 8))]
    mailers = [f"r4-{uuid.uuid4().hex[:10]}@example.nl" for _ in range(max(3, n // 12))]
    phones = [f"+3161{rng.randrange(10**7):07d}" for _ in range(max(2, n // 20))]
    threads: dict[str, list[str]] = {}
    out: list[tuple[bytes, InboundMessage]] = []
    for _ in range(n):
        kind = rng.choices(["resident", "mail", "phone"], weights=[5, 3, 2])[0]
        product = rng.choice(PRODUCTS)
        text = rng.choice(["Een vraag", "Graag contact", "Over mijn aanvraag", "Klacht"])
        if kind == "resident":
            number = rng.choice(residents)
            channel = rng.choice([Channel.WEB, Channel.APP, Channel.COUNTER])
            m = message(
                (IdentifierKind.BSN, number, Trust.AUTHENTICATED),
                channel=channel,
                text=text,
                product=product,
            )
            key = number
        elif kind == "mail":
            address = rng.choice(mailers)
            senders: list[tuple[Any, str, Any]] = [(IdentifierKind.EMAIL, address, Trust.CLAIMED)]
            if rng.random() < 0.15:  # quotes a resident's BSN: a suggested link, never a link
                senders.append((IdentifierKind.BSN, rng.choice(residents), Trust.CLAIMED))
            own = f"email:{uuid.uuid4()}@mail.example.nl"
            earlier = threads.setdefault(address, [])
            refs = [own, *([rng.choice(earlier)] if earlier and rng.random() < 0.5 else [])]
            earlier.append(own)
            m = message(*senders, channel=Channel.EMAIL, text=text, product=product, refs=refs)
            key = address
        else:
            number = rng.choice(phones)
            m = message(
                (IdentifierKind.PHONE, number, Trust.CLAIMED),
                channel=Channel.PHONE,
                text=text,
                product=product,
            )
            key = number
        out.append((key.encode(), m))
    return out


def of_type(events: list[CloudEvent], suffix: str) -> list[CloudEvent]:
    return [e for e in events if e.type == f"nl.eenloket.{suffix}"]


def staff_commands(events: list[CloudEvent], rng: random.Random) -> list[tuple[Event, uuid.UUID]]:
    """Commands on what the router made: (command, record key)."""
    out: list[tuple[Event, uuid.UUID]] = []
    for opened in of_type(events, "case.opened"):
        case_id = uuid.UUID(opened.data["case_id"])
        owner = opened.data["owner_team"]
        if rng.random() < 0.3:
            to = "burgerzaken" if owner != "burgerzaken" else "afval"
            out.append(
                (
                    c.HandOverCase(
                        case_id=case_id, from_team=owner, to_team=to, reason="r4", by=CLERK
                    ),
                    case_id,
                )
            )
        if rng.random() < 0.2:
            out.append((c.AddParticipant(case_id=case_id, team="schuldhulp", by=CLERK), case_id))
        if rng.random() < 0.3:
            out.append((c.AddNote(case_id=case_id, text="Teruggebeld", by=CLERK), case_id))
        if rng.random() < 0.2:
            out.append(
                (c.ChangeStatus(case_id=case_id, status="in behandeling", by=CLERK), case_id)
            )
        if rng.random() < 0.15:
            out.append((c.CloseCase(case_id=case_id, result="Afgehandeld", by=CLERK), case_id))
    for n, suggested in enumerate(of_type(events, "party.link-suggested")):
        decide = c.DecideLink(
            suggestion_id=uuid.UUID(suggested.data["suggestion_id"]),
            confirm=n % 2 == 0,
            reason="r4",
            by=CLERK,
        )
        out.append((decide, uuid.UUID(suggested.data["party_id"])))
    created = [uuid.UUID(e.data["party_id"]) for e in of_type(events, "party.created")]
    rng.shuffle(created)
    for survivor, merged in zip(created[0:8:2], created[1:8:2], strict=True):
        out.append(
            (
                c.MergeParties(party_id=survivor, merged_party_id=merged, reason="r4", by=CLERK),
                survivor,
            )
        )
    return out


async def test_rebuild_from_offset_zero_is_identical(
    kafka_bootstrap: str, pg_dsn: str, pg_urls: dict[str, str], topics: Topics
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    size = sized(ci=300, full=1500)
    settings = router_settings(kafka_bootstrap, pg_urls["router"], topics)
    group, url = settings.consumer_group, pg_urls["router"]
    producer = make_producer(kafka_bootstrap, "r4-test")
    await producer.start()
    try:
        async with running_router(settings):
            inbound = inbound_mix(size, rng)
            for key, m in inbound:
                await send(producer, topics.inbound, m, key=key)
            await router_caught_up(url, group, topics.timeline, [m.message_id for _, m in inbound])
            events = [
                CloudEvent.from_json(r.value) for r in await drain(kafka_bootstrap, topics.timeline)
            ]
            cmds = staff_commands(events, rng)
            ids = [await command(producer, topics.commands, cmd, key) for cmd, key in cmds]
            await router_caught_up(url, group, topics.timeline, ids)
            events = [
                CloudEvent.from_json(r.value) for r in await drain(kafka_bootstrap, topics.timeline)
            ]
            merges = of_type(events, "party.merged")
            assert merges, "the timeline has merges"
            undo = c.UnmergeParties(
                merge_id=uuid.UUID(merges[0].data["merge_id"]), reason="r4", by=CLERK
            )
            ids = [
                await command(
                    producer, topics.commands, undo, uuid.UUID(merges[0].data["party_id"])
                )
            ]
            await router_caught_up(url, group, topics.timeline, ids)
    finally:
        await producer.stop()

    events = [CloudEvent.from_json(r.value) for r in await drain(kafka_bootstrap, topics.timeline)]
    types = Counter(e.type.removeprefix("nl.eenloket.") for e in events)
    for needed in ("case.handed-over", "party.link-suggested", "party.merged", "party.unmerged"):
        assert types[needed] > 0, f"the timeline has no {needed}: {types}"

    cv_url = await fresh_database(pg_dsn, CASEVIEW_MIGRATIONS, "r4_caseview")
    cv_settings = settings_for(cv_url, kafka_bootstrap, topics, max_batch=100)
    engine = engine_for(cv_url)
    try:
        async with running(cv_settings):
            await projected(cv_settings, *events, timeout=180)
            rows_before = await database_rows(engine, skip_columns=SKIP_COLUMNS)
            async with engine.connect() as conn:
                head = await conn.scalar(select(func.max(cv.timeline_entries.c.position)))
            report = await rebuild(cv_settings, switch=True, timeout=300)
            rows_after = await database_rows(engine, skip_columns=SKIP_COLUMNS)
            async with engine.connect() as conn:
                low = await conn.scalar(select(func.min(cv.timeline_entries.c.position)))
    finally:
        await engine.dispose()

    before, before_tables = rows_hash(rows_before)
    after, after_tables = rows_hash(rows_after)
    counts = {name: len(rows) for name, rows in rows_before.items()}
    diff = rows_diff(rows_before, rows_after)
    path = record_history(
        "r4-replay",
        {
            "seed": seed,
            "inbound_messages": size,
            "timeline_topic": topics.timeline,
            "caseview_database": cv_url.rsplit("/", 1)[-1],
            "commands": len(cmds) + 1,
            "timeline_events": len(events),
            "types": dict(types),
            "rows": counts,
            "hash_before": before,
            "hash_after": after,
            "tables_before": before_tables,
            "tables_after": after_tables,
            "rebuild_seconds": report.seconds,
            "rebuild_events": report.events,
            "switched": report.switched,
            "diff": diff,
            "refused": report.refused,
            "live_behind": report.live_behind,
            "rebuild_differences": [d.describe() for d in report.differences],
        },
    )
    assert report.switched, (
        f"the rebuild did not switch (refused={report.refused}, "
        f"live_behind={report.live_behind}); seed {seed}; differences: "
        + "; ".join(d.describe() for d in report.differences)
        + f" (see {path})"
    )
    assert report.events == len({e.id for e in events})
    assert low is not None and head is not None and low > head, "every row was rewritten"
    assert not diff, f"tables differ after the rebuild: {sorted(diff)} (rows: see {path})"
    assert after == before
    assert counts["timeline_entries"] == len(events) - types["command.rejected"] + sum(
        1 for e in of_type(events, "command.rejected") if e.data.get("party_id")
    )
