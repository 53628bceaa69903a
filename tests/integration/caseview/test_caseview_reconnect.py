"""Reads after the database dropped every connection (a restart, a failover, an operator's
``pg_terminate_backend``): caseview pings no connection per request (shared/db/engine.py,
``local_ping``), yet the next reads succeed — at most one answers a 503 problem."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from shared.contracts import Channel
from tests.integration.caseview import conftest as kit

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def terminate_backends(dsn: str, database: str) -> int:
    conn = await asyncpg.connect(f"{dsn}/{database}")
    try:
        return int(
            await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await conn.close()


async def test_case_queue_and_timeline_reads_after_every_connection_was_terminated(
    kafka_bootstrap, pg_dsn, topics, producer
):
    database = f"cv_{uuid.uuid4().hex[:10]}"  # its own: every backend of it is terminated
    url = await kit.pg_database(pg_dsn, database)
    team = kit.team_name()
    p = kit.Party()
    created = p.created("Fatima el Amrani", ("bsn", "111222333", "authenticated"))
    case_id, number, opened = p.case("paspoort", team)
    message = p.message(case_id, number, Channel.EMAIL, "Wanneer?", owner=team)
    headers = kit.token(teams=[team], roles=["kcc"])
    paths = [
        f"/v1/cases/{case_id}",
        f"/v1/cases/{case_id}/timeline",
        f"/v1/parties/{p.id}/timeline",
        f"/v1/teams/{team}/queue",
    ]
    async with kit.running(kit.settings_for(url, kafka_bootstrap, topics)) as cv:
        await kit.send(producer, topics.timeline, created, opened, message)
        await cv.projected(created, opened, message)
        for path in paths:  # every read once: the pool holds connections to drop
            assert (await cv.client.get(path, headers=headers)).status_code == 200, path

        assert await terminate_backends(pg_dsn, database) > 0
        answers = [await cv.client.get(path, headers=headers) for path in paths * 3]

    failed = [a for a in answers if a.status_code != 200]
    assert len(failed) <= 1, [(a.status_code, a.text) for a in failed]
    for a in failed:
        assert a.status_code == 503 and a.json()["title"] == "Database connection lost"
        assert a.headers["Retry-After"] == "1"
    assert all(a.status_code == 200 for a in answers[-len(paths) :])
    assert answers[0].status_code == 503 or answers[0].json()["number"] == number
