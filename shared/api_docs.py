"""The API documentation pages (``/docs``, ``/redoc``) with their assets served by the service
itself, never from a CDN: an operator's browser loads nothing from outside, and the pages
work where the service has no internet access.

The assets (Swagger UI 5, ReDoc, favicon) are the static files of the pinned PyPI package
``fastapi-offline``: a pip install puts them in every image and virtualenv, no npm step in
the image build. Only its files are used, not its ``FastAPI`` subclass.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"


def assets_dir() -> Path:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the package fastapi-offline (the /docs assets) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def install_api_docs(app: FastAPI) -> None:
    """``/docs`` and ``/redoc`` on local assets; create the app with ``docs_url=None,
    redoc_url=None`` so FastAPI's CDN pages are not registered first."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    title = f"{app.title} — API"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=title,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=title,
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
