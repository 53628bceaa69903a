"""``python -m services.outbound migrate|serve|openapi``."""

from __future__ import annotations

from typing import cast

from fastapi import FastAPI

from services.outbound.bootstrap import MIGRATIONS, create_app
from services.outbound.config import OutboundSettings
from shared.service import service_main
from shared.settings import ServiceSettings


def _app(settings: ServiceSettings) -> FastAPI:
    return create_app(cast(OutboundSettings, settings))


def main() -> None:
    service_main(
        name="outbound",
        settings_factory=OutboundSettings,
        app_factory=_app,
        migrations=MIGRATIONS,
        database_url=lambda s: cast(OutboundSettings, s).database_url,
    )


if __name__ == "__main__":
    main()
