"""``python -m services.router migrate|serve|openapi``."""

from __future__ import annotations

from typing import cast

from fastapi import FastAPI

from services.router.bootstrap import MIGRATIONS, create_app
from services.router.config import RouterSettings
from shared.gctune import tune_gc
from shared.service import service_main
from shared.settings import ServiceSettings


def _app(settings: ServiceSettings) -> FastAPI:
    app = create_app(cast(RouterSettings, settings))
    tune_gc()  # the service process only (not tests that build the app in theirs)
    return app


def main() -> None:
    service_main(
        name="router",
        settings_factory=RouterSettings,
        app_factory=_app,
        migrations=MIGRATIONS,
        database_url=lambda s: cast(RouterSettings, s).database_url,
    )


if __name__ == "__main__":
    main()
