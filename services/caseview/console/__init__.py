"""The contact-centre console: static pages at ``/console`` on caseview's own API.

The pages (HTML, vanilla JS modules, CSS; no build step) call the same ``/v1``
endpoints with the same bearer token as any other client, so need-to-know, the
access log and the role checks are exactly the API's. Live updates are read
with ``fetch`` (not ``EventSource``), so the stream carries the ``Authorization``
header too. Only in development and test, and only while caseview trusts the
dev key, a login helper mints dev tokens (``devlogin.py``). Where the browser logs in
through the municipality's issuer (OIDC, ``static/js/oidc.js``) it reads from
``/console/config.json``. See docs/console.md and docs/identity.md.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.caseview.config import CaseviewSettings
from services.caseview.console import devlogin

STATIC = Path(__file__).parent / "static"

# Scripts and styles only from the console itself: no inline script, no third party,
# so an injected string can never run (the pages also only ever set textContent). The only
# other origin the pages may talk to is the login issuer's (discovery, token endpoint);
# they reach its login and logout pages by navigation, which the CSP does not govern.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "frame-src blob:; "  # an attachment's preview: bytes the page fetched with its token
    "connect-src 'self'{issuer}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
OTHER_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-cache"),
]


def issuer_origin(issuer: str) -> str:
    """scheme://host[:port] of the issuer URL, or '' when none is configured."""
    if not issuer:
        return ""
    parts = urlsplit(issuer)
    return f"{parts.scheme}://{parts.netloc}"


def security_headers(settings: CaseviewSettings) -> list[tuple[bytes, bytes]]:
    return headers_for(settings.console_oidc_issuer)


def headers_for(issuer: str) -> list[tuple[bytes, bytes]]:
    """The pages' headers when their browser logs in at ``issuer`` (also Mijn zaken's)."""
    origin = issuer_origin(issuer)
    csp = CSP.format(issuer=f" {origin}" if origin else "")
    return [(b"content-security-policy", csp.encode()), *OTHER_HEADERS]


class LoginConfig(BaseModel):
    """Where the console's browser logs in: the issuer and client (both empty when it does
    not), and whether the development login is there (so the page does not ask for it)."""

    model_config = ConfigDict(frozen=True)

    issuer: str
    client_id: str
    dev_login: bool


config_router = APIRouter(prefix="/console", include_in_schema=False)


@config_router.get("/config.json")
async def login_config(request: Request) -> LoginConfig:
    settings: CaseviewSettings = request.app.state.settings
    configured = bool(settings.console_oidc_issuer and settings.console_oidc_client_id)
    return LoginConfig(
        issuer=settings.console_oidc_issuer if configured else "",
        client_id=settings.console_oidc_client_id if configured else "",
        dev_login=devlogin.allowed(settings),
    )


class SecurityHeaders:
    """Adds the console's security headers to every answer of the wrapped app."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]]) -> None:
        self._app = app
        self._headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in self._headers}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": [*kept, *self._headers]}
            await send(message)

        await self._app(scope, receive, send_with_headers)


def install(app: FastAPI, settings: CaseviewSettings) -> None:
    """Serve the console at ``/console``; the dev login only where dev tokens are trusted."""
    app.include_router(config_router)  # before the mount, which would answer 404
    if devlogin.allowed(settings):
        app.include_router(devlogin.router)
    app.mount(
        "/console",
        SecurityHeaders(StaticFiles(directory=STATIC, html=True), security_headers(settings)),
        name="console",
    )
