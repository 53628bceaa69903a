"""``python -m services.notifications migrate|serve|openapi``."""

from __future__ import annotations

from typing import cast

from fastapi import FastAPI

from services.notifications.bootstrap import MIGRATIONS, create_app
from services.notifications.config import NotificationsSettings
from shared.service import service_main
from shared.settings import ServiceSettings


def _app(settings: ServiceSettings) -> FastAPI:
    return create_app(cast(NotificationsSettings, settings))


def main() -> None:
    service_main(
        name="notifications",
        settings_factory=NotificationsSettings,
        app_factory=_app,
        migrations=MIGRATIONS,
        database_url=lambda s: cast(NotificationsSettings, s).database_url,
    )


if __name__ == "__main__":
    main()
