"""A statement on a connection the database dropped answers 503 (retry at once: the pool
was invalidated); any other database error stays a 500 (services/caseview/bootstrap.py)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from services.caseview.bootstrap import answer_lost_connections
from shared.http import install_problem_handlers


def app_raising(invalidated: bool) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    answer_lost_connections(app)

    @app.get("/read")
    async def read() -> None:
        raise DBAPIError("SELECT 1", None, OSError("gone"), connection_invalidated=invalidated)

    return app


async def test_a_dropped_connection_is_a_503_problem_and_other_errors_a_500() -> None:
    for invalidated, status in ((True, 503), (False, 500)):
        transport = httpx.ASGITransport(app=app_raising(invalidated), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.get("/read")
        assert answer.status_code == status
        assert answer.headers["content-type"] == "application/problem+json"
        if invalidated:
            assert answer.json()["title"] == "Database connection lost"
            assert answer.headers["Retry-After"] == "1"
