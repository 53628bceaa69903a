"""Mijn zaken: the resident's pages at ``/mijn-zaken`` on caseview's own ``/v1/me`` API.

Static pages (HTML, small JS modules, the NL Design System CSS vendored from npm in
``static/vendor/``; no build step, no npm at run time). They log in through the resident
portal's public client with the console's OIDC module (``/console/js/oidc.js``, served once
for both) and read with the resident's own bearer token, so what they show is exactly what
the API shows that resident. See docs/resident.md, "Pages".
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict
from starlette.staticfiles import StaticFiles

from services.caseview.config import CaseviewSettings
from services.caseview.console import SecurityHeaders, headers_for

STATIC = Path(__file__).parent / "static"


class ResidentLoginConfig(BaseModel):
    """Where the resident's browser logs in (both empty when nowhere: the pages say so)."""

    model_config = ConfigDict(frozen=True)

    issuer: str
    client_id: str


def login_issuer(settings: CaseviewSettings) -> str:
    return settings.resident_oidc_issuer or settings.console_oidc_issuer


config_router = APIRouter(prefix="/mijn-zaken", include_in_schema=False)


@config_router.get("/config.json")
async def login_config(request: Request) -> ResidentLoginConfig:
    settings: CaseviewSettings = request.app.state.settings
    issuer = login_issuer(settings)
    configured = bool(issuer and settings.resident_oidc_client_id)
    return ResidentLoginConfig(
        issuer=issuer if configured else "",
        client_id=settings.resident_oidc_client_id if configured else "",
    )


def install(app: FastAPI, settings: CaseviewSettings) -> None:
    """Serve the resident pages at ``/mijn-zaken`` with the console's security headers."""
    app.include_router(config_router)  # before the mount, which would answer 404
    app.mount(
        "/mijn-zaken",
        SecurityHeaders(
            StaticFiles(directory=STATIC, html=True), headers_for(login_issuer(settings))
        ),
        name="mijn-zaken",
    )
