"""HTTP conventions shared by the services: RFC 9457 problem details, health and metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.api_docs import install_api_docs
from shared.security_txt import security_txt_router
from shared.telemetry import FASTAPI_TELEMETRY
from shared.version import version

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Per-field validation errors (location and message)."
    )


class ProblemError(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(title)
        self.problem = Problem(type=type_, title=title, status=status, detail=detail, errors=errors)
        self.headers = headers
        # Why, for metrics (not in the answer): left in the request's ASGI state, where a
        # middleware that counts refusals finds it.
        self.reason = reason

    def note_reason(self, scope: Any) -> None:
        if self.reason is not None:
            scope.setdefault("state", {})["problem_reason"] = self.reason


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {  # for `responses=` in route decorators
    status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": text}
    for status, text in {
        400: "Bad request",
        413: "Body too large",
        415: "Unsupported media type",
        422: "Validation failed",
        503: "Kafka unavailable; retry after the given delay",
    }.items()
}


def service_app(title: str, lifespan: Any, **about: str) -> FastAPI:
    """A service's app with what every service has: RFC 9457 problems, ``/docs`` and
    ``/redoc`` on the service's own assets, the trace settings, the project's version in the
    OpenAPI document, ``/.well-known/security.txt``. The caller adds its routes, middleware,
    metrics and probes, in the order it needs."""
    app = FastAPI(
        docs_url=None,  # /docs and /redoc on local assets: install_api_docs
        redoc_url=None,
        telemetry=FASTAPI_TELEMETRY,
        title=title,
        version=version(),  # the project's one version (shared/version.py)
        lifespan=lifespan,
        **about,  # type: ignore[arg-type]
    )
    install_problem_handlers(app)
    install_api_docs(app)
    app.include_router(security_txt_router())
    return app


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        exc.note_reason(request.scope)
        problem = exc.problem.model_copy(update={"instance": request.url.path})
        return problem_response(problem, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Locations and messages only: never echo the submitted values back (or into logs).
        errors = [
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "msg": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        problem = Problem(
            title="Request validation failed",
            status=422,
            detail=f"{len(errors)} field(s) are missing or invalid; see 'errors'.",
            instance=request.url.path,
            errors=errors,
        )
        return problem_response(problem)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        problem = Problem(
            title=str(exc.detail) if exc.detail else "HTTP error",
            status=exc.status_code,
            instance=request.url.path,
        )
        return problem_response(problem, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "unhandled error",
            extra={"route": request.url.path, "error_type": type(exc).__name__},
        )
        problem = Problem(title="Internal error", status=500, instance=request.url.path)
        return problem_response(problem)


ReadinessCheck = Callable[[], Awaitable[None]]


def health_router(
    checks: Callable[[], dict[str, ReadinessCheck]], *, timeout: float = 3.0
) -> APIRouter:
    """``/healthz`` (the process lives), ``/readyz`` (its dependencies answer), ``/metrics``.

    ``checks`` is read per request: the checks exist only once the lifespan started.
    """
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", operation_id="healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": version()}

    @router.get("/readyz", operation_id="readyz", responses={503: {"description": "Not ready"}})
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks().items():
            try:
                await asyncio.wait_for(check(), timeout)
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"failing: {type(exc).__name__}"
        ready = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics", operation_id="metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


class BodySizeLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes with a 413 problem, streamed or not."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await self._refuse(scope, send)
                return
        await self.app(scope, replay_body(bytes(body), receive), send)

    async def _refuse(self, scope: Any, send: Any) -> None:
        problem = Problem(
            title="Request body too large",
            status=413,
            detail=f"The body exceeds the limit of {self.limit} bytes.",
            instance=scope.get("path"),
        )
        await problem_response(problem)(scope, _noop_receive, send)


async def _noop_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


def replay_body(body: bytes, receive: Any) -> Any:
    """An ASGI ``receive`` that hands out an already read body, then defers to ``receive``."""
    replayed = False

    async def replay() -> Any:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def send_problem(scope: Any, send: Any, exc: ProblemError) -> None:
    """Answer a raw ASGI request with ``exc``'s problem, as the FastAPI handler would."""
    exc.note_reason(scope)
    problem = exc.problem.model_copy(update={"instance": scope.get("path")})
    await problem_response(problem, exc.headers)(scope, _noop_receive, send)


HTTP_SECONDS = Histogram(
    "eenloket_http_request_seconds",
    "HTTP request duration by route template, method and status class",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


def install_http_metrics(app: FastAPI) -> None:
    """Latency per route *template* (never the raw path: ids would explode the labels and
    could carry personal data)."""
    app.add_middleware(HttpMetrics)


class HttpMetrics:
    """Pure ASGI (not ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs every
    request through an extra task group, a fifth of ingest's CPU under load)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            if template not in ("/metrics", "/healthz", "/readyz"):
                HTTP_SECONDS.labels(scope["method"], template, f"{status // 100}xx").observe(
                    time.perf_counter() - started
                )
