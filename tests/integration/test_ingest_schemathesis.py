"""Property-based run of the ingest OpenAPI (schemathesis): generated valid and invalid requests
against the app in this process (uvicorn in a thread), real Kafka and PostgreSQL behind it.

Checks: no 5xx, responses conform to the document (status codes, content types, schemas,
headers), and invalid data is refused with a 4xx.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from services.ingest.auth import Integration, hash_key
from services.ingest.bootstrap import create_app
from services.ingest.config import IngestSettings
from shared.contracts import Channel
from shared.kafka.topics import TopicSpec, ensure_topics

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

KEY = "schemathesis-all-channels"


@pytest.fixture(scope="module")
def ingest_url(kafka_bootstrap, pg_urls, tmp_path_factory) -> Iterator[str]:
    topic = f"test.schemathesis.{uuid.uuid4().hex[:8]}"
    app = create_app(
        IngestSettings(
            environment="test",
            kafka_bootstrap=kafka_bootstrap,
            database_url=pg_urls["ingest"],
            topic_inbound=topic,
            attachment_dir=tmp_path_factory.mktemp("attachments"),
            allow_anonymous=False,
            api_keys={
                "everything": Integration(
                    sha256=hash_key(KEY), channels=frozenset(Channel), may_assert_login=True
                )
            },
        )
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False)
    )

    async def run() -> None:
        await ensure_topics(kafka_bootstrap, [TopicSpec(topic, 3)])
        await server.serve()

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "the ingest server did not start"
        assert time.monotonic() < deadline, "the ingest server did not start within 60s"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# A raw e-mail is bytes on the wire, like application/octet-stream.
schemathesis.serializer.alias("message/rfc822", "application/octet-stream")

# The document does not depend on runtime settings, so it is built at collection time
# (schemathesis' lazy fixture loader does not work with this pytest version).
_document = schemathesis.openapi.from_dict(create_app(IngestSettings(environment="test")).openapi())
_document.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=30
)
schema = _document.include(path_regex="^/v1/channels/")


@schema.parametrize()
@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_ingest_api_conforms(case: Any, ingest_url: str) -> None:
    # Schema-valid input can still be refused by rules JSON Schema cannot state (the
    # 11-proef of a BSN, a phone number that does not exist, ended_at before started_at,
    # a login without its BSN): a 422 there is correct, so "positive data accepted" is
    # not a check here. Every other default check applies, negative_data_rejection included.
    case.call_and_validate(
        base_url=ingest_url,
        headers={"X-Api-Key": KEY},
        excluded_checks=[positive_data_acceptance],
        timeout=30,
    )
