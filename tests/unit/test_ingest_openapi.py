"""The committed OpenAPI document (docs/api/ingest.json) is what the code serves."""

from __future__ import annotations

import json
from pathlib import Path

from services.ingest.bootstrap import create_app
from services.ingest.config import IngestSettings

OPEN_FORMULIEREN = "/v1/channels/open-formulieren"
DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "api" / "ingest.json"


def test_committed_openapi_document_is_current():
    served = create_app(IngestSettings(environment="test")).openapi()
    committed = json.loads(DOCUMENT.read_text())
    assert committed == json.loads(json.dumps(served)), "run `make openapi` and commit the result"


def test_every_channel_route_documents_its_refusals():
    paths = json.loads(DOCUMENT.read_text())["paths"]
    channels = {p for p in paths if p.startswith("/v1/channels/")} - {OPEN_FORMULIEREN}
    assert channels == {
        f"/v1/channels/{c}" for c in ("web", "email", "app", "chat", "phone", "counter", "letter")
    }
    for path in channels:
        responses = paths[path]["post"]["responses"]
        assert {"202", "401", "403", "413", "415", "422", "503"} <= set(responses), path
    # Open Formulieren's plugin expects a 201 (docs/open-formulieren.md).
    responses = paths[OPEN_FORMULIEREN]["post"]["responses"]
    assert {"201", "401", "403", "409", "413", "415", "422", "503"} <= set(responses)
    assert paths[OPEN_FORMULIEREN]["post"]["security"] == [{"HTTPBearer": []}]
    assert "message/rfc822" in paths["/v1/channels/email"]["post"]["requestBody"]["content"]
    security = json.loads(DOCUMENT.read_text())["components"]["securitySchemes"]
    assert security["APIKeyHeader"]["name"] == "X-Api-Key"
