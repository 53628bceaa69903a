"""``python -m services.ingest migrate|serve|openapi``."""

from __future__ import annotations

from typing import cast

from fastapi import FastAPI

from services.ingest.bootstrap import MIGRATIONS, create_app
from services.ingest.config import IngestSettings
from shared.gctune import tune_gc_for_requests
from shared.service import service_main
from shared.settings import ServiceSettings


def _app(settings: ServiceSettings) -> FastAPI:
    app = create_app(cast(IngestSettings, settings))
    tune_gc_for_requests()  # the service process only (not tests that build the app in theirs)
    return app


def main() -> None:
    service_main(
        name="ingest",
        settings_factory=IngestSettings,
        app_factory=_app,
        migrations=MIGRATIONS,
        database_url=lambda s: cast(IngestSettings, s).database_url,
    )


if __name__ == "__main__":
    main()
