"""``python -m services.ingest migrate|serve|openapi``."""

from __future__ import annotations

from typing import cast

from fastapi import FastAPI

from services.ingest.bootstrap import MIGRATIONS, create_app
from services.ingest.config import IngestSettings
from shared.service import service_main
from shared.settings import ServiceSettings


def _app(settings: ServiceSettings) -> FastAPI:
    return create_app(cast(IngestSettings, settings))


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
