"""The contact-centre console: static pages at ``/console`` on caseview's own API.

The pages (HTML, vanilla JS modules, CSS; no build step) call the same ``/v1``
endpoints with the same bearer token as any other client, so need-to-know, the
access log and the role checks are exactly the API's. Live updates are read
with ``fetch`` (not ``EventSource``), so the stream carries the ``Authorization``
header too. Only in development and test, and only while caseview trusts the
dev key, a login helper mints dev tokens (``devlogin.py``). See docs/console.md.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.caseview.config import CaseviewSettings
from services.caseview.console import devlogin

STATIC = Path(__file__).parent / "static"

# Scripts and styles only from the console itself: no inline script, no third party,
# so an injected string can never run (the pages also only ever set textContent).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "frame-src blob:; "  # an attachment's preview: bytes the page fetched with its token
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-cache"),
]


class _SecurityHeaders:
    """Adds the console's security headers to every answer of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in HEADERS}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": [*kept, *HEADERS]}
            await send(message)

        await self._app(scope, receive, send_with_headers)


def install(app: FastAPI, settings: CaseviewSettings) -> None:
    """Serve the console at ``/console``; the dev login only where dev tokens are trusted."""
    if devlogin.allowed(settings):
        app.include_router(devlogin.router)  # before the mount, which would answer 404
    app.mount(
        "/console",
        _SecurityHeaders(StaticFiles(directory=STATIC, html=True)),
        name="console",
    )
