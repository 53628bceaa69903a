"""Property-based API tests (schemathesis) against caseview in-process, with a valid token:
no 5xx, and every response conforms to the published OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import checks

from services.caseview.bootstrap import create_app
from services.caseview.config import CaseviewSettings
from tests.integration.caseview.conftest import (
    bounded,
    fresh_topics,
    settings_for,
    threaded_server,
    token,
)

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
    app_settings = settings_for(
        pg_urls["caseview"],
        kafka_bootstrap,
        fresh_topics(),
        sse_max_seconds=1.0,  # a stream that would stay open ends quickly here
    )
    with threaded_server(app_settings) as url:
        yield url


@schema.parametrize()
@bounded(30)
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
