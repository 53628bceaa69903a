"""Every service's API documentation pages load their assets from the service itself."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from services.caseview.bootstrap import create_app as caseview_app
from services.caseview.config import CaseviewSettings
from services.ingest.bootstrap import create_app as ingest_app
from services.ingest.config import IngestSettings
from services.notifications.bootstrap import create_app as notifications_app
from services.notifications.config import NotificationsSettings
from services.outbound.bootstrap import create_app as outbound_app
from services.outbound.config import OutboundSettings
from services.router.bootstrap import create_app as router_app
from services.router.config import RouterSettings

APPS: dict[str, Callable[[], FastAPI]] = {
    "caseview": lambda: caseview_app(CaseviewSettings(environment="test")),
    "ingest": lambda: ingest_app(IngestSettings(environment="test")),
    "router": lambda: router_app(RouterSettings(environment="test")),
    "outbound": lambda: outbound_app(OutboundSettings(environment="test")),
    "notifications": lambda: notifications_app(NotificationsSettings(environment="test")),
}
URL = re.compile(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""")


@pytest.mark.parametrize("service", sorted(APPS))
async def test_docs_pages_load_nothing_from_outside(service: str):
    app = APPS[service]()
    # No lifespan: the pages need neither the database nor Kafka.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://service"
    ) as http:
        for page in ("/docs", "/redoc"):
            r = await http.get(page)
            assert r.status_code == 200, (page, r.text)
            # No absolute or protocol-relative URL anywhere in the page: not even a font.
            assert not re.search(r"https?:|['\"(]//", r.text), (page, r.text)
            assets = [u for u in URL.findall(r.text) if u != "/openapi.json"]
            assert assets, page
            for url in assets:
                assert url.startswith("/docs-assets/"), (page, url)
                served = await http.get(url)
                assert served.status_code == 200, url
                assert len(served.content) > 0, url
