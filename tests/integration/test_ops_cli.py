"""The `eenloket` operations command against a real broker."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field

import pytest
from typer.testing import CliRunner

from ops.cli import app
from shared.kafka.config import make_producer
from shared.kafka.deadletter import DeadLetters
from tests.support import read_topic

pytestmark = [pytest.mark.kafka]
runner = CliRunner()


@dataclass
class FakeRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def env(kafka_bootstrap, suffix):
    return {
        "EENLOKET_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "EENLOKET_TOPIC_INBOUND": f"ops.inbound.{suffix}",
        "EENLOKET_TOPIC_TIMELINE": f"ops.timeline.{suffix}",
        "EENLOKET_TOPIC_COMMANDS": f"ops.commands.{suffix}",
        "EENLOKET_TOPIC_DEADLETTER": f"ops.deadletter.{suffix}",
        "EENLOKET_TOPIC_OUTBOUND": f"ops.outbound.{suffix}",
        "EENLOKET_TOPIC_OUTBOUND_STATUS": f"ops.outbound-status.{suffix}",
        "EENLOKET_TOPIC_DELIVERY_REPORTS": f"ops.delivery-reports.{suffix}",
        "EENLOKET_TOPIC_PARTITIONS": "2",
    }


def test_topics_ensure_is_idempotent(kafka_bootstrap):
    e = env(kafka_bootstrap, uuid.uuid4().hex[:8])
    first = runner.invoke(app, ["topics", "ensure"], env=e)
    assert first.exit_code == 0, first.output
    assert first.output.count("created") == 7
    second = runner.invoke(app, ["topics", "ensure"], env=e)
    assert second.exit_code == 0
    assert second.output.count("exists") == 7


def test_dead_letters_list_show_and_replay(kafka_bootstrap):
    suffix = uuid.uuid4().hex[:8]
    e = env(kafka_bootstrap, suffix)
    assert runner.invoke(app, ["topics", "ensure"], env=e).exit_code == 0
    original = b'{"id": "x", "secret": "Jan Jansen"}'

    async def dead_letter() -> None:
        producer = make_producer(kafka_bootstrap, "test")
        await producer.start()
        try:
            record = FakeRecord(
                e["EENLOKET_TOPIC_INBOUND"], 1, 7, b"k", original, [("traceparent", b"00-x")]
            )
            await DeadLetters(producer, e["EENLOKET_TOPIC_DEADLETTER"]).send(
                record, group="router", reason="handler-failed", error=ValueError("no good")
            )
        finally:
            await producer.stop()

    asyncio.run(dead_letter())

    listed = runner.invoke(app, ["deadletters", "list"], env=e)
    assert listed.exit_code == 0, listed.output
    assert "handler-failed" in listed.output
    assert "Jan Jansen" not in listed.output

    shown = runner.invoke(app, ["deadletters", "show", "0"], env=e)
    assert "dlt.error.message: ValueError: no good" in shown.output
    assert "Jan Jansen" not in shown.output
    assert "Jan Jansen" in runner.invoke(app, ["deadletters", "show", "0", "--value"], env=e).output

    dry = runner.invoke(app, ["deadletters", "replay", "0", "--dry-run"], env=e)
    assert dry.exit_code == 0
    assert f"would replay offset 0 -> {e['EENLOKET_TOPIC_INBOUND']}" in dry.output

    missing = runner.invoke(app, ["deadletters", "replay", "5"], env=e)
    assert missing.exit_code == 1
    assert "no dead letter at offset(s) 5" in missing.output

    done = runner.invoke(app, ["deadletters", "replay", "0"], env=e)
    assert done.exit_code == 0, done.output
    (replayed,) = asyncio.run(read_topic(kafka_bootstrap, e["EENLOKET_TOPIC_INBOUND"], expect=1))
    assert replayed.value == original
    assert replayed.key == b"k"
    headers = dict(replayed.headers)
    assert headers["traceparent"] == b"00-x"
    assert headers["dlt.replayed-from"] == b"0"
    assert "dlt.reason" not in headers


def test_routing_check(tmp_path):
    ok = runner.invoke(
        app, ["routing", "check", "services/router/routing/default.yaml", "-t", "kliko kapot"]
    )
    assert ok.exit_code == 0
    assert "afvalcontainer" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: x\ndefault_team: nobody\n")
    refused = runner.invoke(app, ["routing", "check", str(bad)])
    assert refused.exit_code == 1
    assert refused.output.startswith("error:")


def test_every_command_has_help_with_an_example():
    for command in (
        ["topics", "ensure"],
        ["deadletters", "list"],
        ["deadletters", "show"],
        ["deadletters", "replay"],
        ["routing", "check"],
        ["caseview", "rebuild"],
        ["tokens", "mint"],
        ["keys", "new"],
        ["keys", "hash"],
        ["import", "contacts"],
    ):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0
        assert "Example" in result.output, command


def test_tokens_mint_prints_a_token_caseview_accepts():
    import jwt

    result = runner.invoke(
        app, ["tokens", "mint", "--user", "medewerker-9", "--team", "kcc", "--role", "kcc"]
    )
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.output.strip(), options={"verify_signature": False})
    assert claims["sub"] == "medewerker-9"
    assert claims["teams"] == ["kcc"]
    refused = runner.invoke(app, ["tokens", "mint", "--user", "x", "--role", "admin"])
    assert refused.exit_code == 1
    assert "unknown role" in refused.output


def test_caseview_rebuild_replays_the_topic(kafka_bootstrap, tmp_path):
    from services.caseview.bootstrap import MIGRATIONS
    from shared.contracts import PartyCreated, to_cloudevent
    from shared.db.migrations import upgrade
    from shared.envelope import source_urn

    url = f"sqlite+aiosqlite:///{tmp_path / 'caseview.db'}"
    upgrade(MIGRATIONS, url)
    e = env(kafka_bootstrap, uuid.uuid4().hex[:8]) | {"EENLOKET_DATABASE_URL": url}
    assert runner.invoke(app, ["topics", "ensure"], env=e).exit_code == 0

    async def history() -> None:
        from datetime import UTC, datetime

        producer = make_producer(kafka_bootstrap, "test")
        await producer.start()
        try:
            for _ in range(3):
                party = uuid.uuid4()
                event = to_cloudevent(
                    PartyCreated(
                        party_id=party,
                        provisional=True,
                        display_name=None,
                        identifiers=[],
                        created_at=datetime.now(UTC),
                    ),
                    source=source_urn("0" * 20, "eenloket-router"),
                    subject=party,
                    sequence=1,
                )
                await producer.send_and_wait(
                    e["EENLOKET_TOPIC_TIMELINE"], event.to_json(), key=str(party).encode()
                )
        finally:
            await producer.stop()

    asyncio.run(history())
    # No caseview projects this database: the live projection never reaches the rebuild, so
    # they cannot be compared at one position and nothing is switched (exit 2, and why).
    kept = runner.invoke(app, ["caseview", "rebuild", "--wait-for-live", "0.5"], env=e)
    assert kept.exit_code == 2, kept.output
    assert "live projection is behind" in kept.output
    assert "parties: 3 only rebuilt, 0 only live, 0 changed" in kept.output
    # Forced, it replaces the live projection and says it differed (exit 1).
    result = runner.invoke(app, ["caseview", "rebuild", "--force"], env=e)
    assert result.exit_code == 1, result.output
    assert "3 events replayed" in result.output
    assert "switched" in result.output and "DIFFERENT" in result.output
    # For scripts: the report as JSON; a check without switching changes nothing.
    checked = runner.invoke(app, ["caseview", "rebuild", "--no-switch", "--json"], env=e)
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)
    assert report["events"] == 3
    assert report["identical"] is True
    assert report["switched"] is False
