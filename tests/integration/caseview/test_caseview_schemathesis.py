"""Property-based API tests (schemathesis) against caseview in-process, with a valid token:
no 5xx, and every response conforms to the published OpenAPI document."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis import checks

from services.caseview.bootstrap import create_app
from services.caseview.config import CaseviewSettings
from shared.kafka.topics import TopicSpec, ensure_topics
from tests.integration.caseview.conftest import free_port, token

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

# The document is the app's own (building it needs no broker or database).
schema = schemathesis.openapi.from_dict(create_app(CaseviewSettings(environment="test")).openapi())

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
# Every role and the contact centre's team: the token reaches as many code paths as any can.
AUTH = token("u-schemathesis", teams=["kcc"], roles=["kcc", "member", "lead", "auditor"])


@pytest.fixture(scope="module")
def caseview_url(kafka_bootstrap: str, pg_urls: dict[str, str]) -> Iterator[str]:
    suffix = uuid.uuid4().hex[:8]
    app_settings = CaseviewSettings(
        environment="test",
        database_url=pg_urls["caseview"],
        kafka_bootstrap=kafka_bootstrap,
        topic_timeline=f"test.timeline.{suffix}",
        topic_commands=f"test.commands.{suffix}",
        topic_deadletter=f"test.deadletter.{suffix}",
        consumer_group=f"cv-st-{suffix}",
        sse_max_seconds=1.0,  # a stream that would stay open ends quickly here
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(app_settings), host="127.0.0.1", port=port, log_config=None)
    )

    async def main() -> None:
        await ensure_topics(
            kafka_bootstrap,
            [
                TopicSpec(app_settings.topic_timeline, 1),
                TopicSpec(app_settings.topic_commands, 1),
                TopicSpec(app_settings.topic_deadletter, 1),
            ],
        )
        await server.serve()

    # Its own thread and event loop: schemathesis calls synchronously.
    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "caseview did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_caseview_api_conforms_to_its_schema(
    case: schemathesis.Case[Any], caseview_url: str
) -> None:
    case.call_and_validate(base_url=caseview_url, headers=AUTH, checks=CHECKS, timeout=15)


def test_the_schema_requires_a_bearer_token(caseview_url: str) -> None:
    r = httpx.get(f"{caseview_url}/openapi.json", timeout=10)
    document = r.json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert all(
        "security" in op
        for path, item in document["paths"].items()
        if path.startswith("/v1/")
        for op in item.values()
    )
