"""One trace from the ingest HTTP request through Kafka into the router's processing, its
outbox publish, and caseview's projection (in-memory span exporter, all three in process)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.caseview.auth import mint_token
from services.caseview.bootstrap import create_app as caseview_app
from services.caseview.config import CaseviewSettings
from services.ingest.bootstrap import create_app as ingest_app
from services.ingest.config import IngestSettings
from services.router.bootstrap import create_app as router_app
from services.router.config import RouterSettings
from shared import telemetry
from tests.apps import serve
from tests.support import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    telemetry.setup_tracing("eenloket-test", processors=[SimpleSpanProcessor(exporter)])
    yield exporter
    telemetry._SAMPLER.exporting = False  # the rest of the session records nothing again
    exporter.clear()


async def test_one_trace_from_http_through_kafka_to_the_projection(
    spans, kafka_bootstrap, pg_urls, topics
):
    suffix = uuid.uuid4().hex[:8]
    common = {
        "environment": "test",
        "kafka_bootstrap": kafka_bootstrap,
        "topic_inbound": topics.inbound,
        "topic_timeline": topics.timeline,
        "topic_commands": topics.commands,
        "topic_deadletter": topics.deadletter,
    }
    token = mint_token("tracer", teams=["kcc"], roles=["kcc"])
    async with (
        serve(ingest_app(IngestSettings(**common, database_url=pg_urls["ingest"]))) as ingest,
        serve(
            router_app(
                RouterSettings(
                    **common, database_url=pg_urls["router"], consumer_group=f"r-{suffix}"
                )
            )
        ),
        serve(
            caseview_app(
                CaseviewSettings(
                    **common, database_url=pg_urls["caseview"], consumer_group=f"c-{suffix}"
                )
            )
        ) as caseview,
    ):
        accepted = await ingest.post(
            "/v1/channels/web",
            json={"email": f"{suffix}@example.nl", "subject": "Paspoort", "text": "Verlopen"},
        )
        assert accepted.status_code == 202
        message_id = accepted.json()["message_id"]

        async def projected():
            r = await caseview.get(
                f"/v1/contacts/{message_id}",
                headers={"Authorization": f"Bearer {token}", "X-Purpose": "test"},
            )
            return r.status_code == 200

        await eventually(projected, timeout=60)

    finished = spans.get_finished_spans()
    (publish,) = [
        s
        for s in finished
        if s.name == f"{topics.inbound} publish"
        and s.attributes.get("messaging.message.id") == message_id
    ]
    trace_id = publish.context.trace_id
    in_trace = {s.name for s in finished if s.context.trace_id == trace_id}
    assert "POST /v1/channels/web" in in_trace  # the HTTP request started the trace
    assert f"{topics.inbound} process" in in_trace  # the router continued it
    assert f"{topics.timeline} publish" in in_trace  # its outbox relay published in it
    assert f"{topics.timeline} process" in in_trace  # caseview projected in it
