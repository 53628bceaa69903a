"""``python -m services.caseview migrate|serve|openapi`` (shared/service.py).

Rebuilding the read models and minting development tokens are operations:
``eenloket caseview rebuild`` and ``eenloket tokens mint`` (ops/commands/caseview.py).
"""

from __future__ import annotations

from typing import cast

from fastapi import FastAPI

from services.caseview.bootstrap import MIGRATIONS, create_app
from services.caseview.config import CaseviewSettings
from shared.gctune import tune_gc_for_requests
from shared.service import service_main
from shared.settings import ServiceSettings


def _app(settings: ServiceSettings) -> FastAPI:
    app = create_app(cast(CaseviewSettings, settings))
    tune_gc_for_requests()  # the service process only (not tests that build the app in theirs)
    return app


def main() -> None:
    service_main(
        name="caseview",
        settings_factory=CaseviewSettings,
        app_factory=_app,
        migrations=MIGRATIONS,
        database_url=lambda s: cast(CaseviewSettings, s).database_url,
    )


if __name__ == "__main__":
    main()
