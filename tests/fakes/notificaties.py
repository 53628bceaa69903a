"""A notification component for tests: the request contract of the Notificaties API 1.0 as
a client meets it (Open Notificaties' answers), on a real HTTP server (``serving``).

- every request needs a ZGW JWT (HS256, the client's secret; ``iss``, ``iat`` and
  ``client_id`` present): else 403, as the ZGW APIs answer;
- ``GET /api/v1/kanaal[?naam=]``: 200 and the list; ``POST /api/v1/kanaal``: 201, or 400 for
  a naam that exists;
- ``POST /api/v1/notificaties``: the required fields, an ``actie`` and ``aanmaakdatum`` that
  parse, a registered ``kanaal``, kenmerken (strings) only among its filters: 200 and the
  message; otherwise 400 with ``invalidParams``;
- ``down(status)``: every request answered with ``status`` (503) until ``up()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.webhooks import problem

REQUIRED = ("kanaal", "hoofdObject", "resource", "resourceUrl", "actie", "aanmaakdatum")
ACTIES = {"create", "update", "partial_update", "destroy"}


def _invalid(name: str, reason: str) -> JSONResponse:
    return JSONResponse(
        {
            "type": "about:blank",
            "code": "invalid",
            "title": "Invalid input.",
            "status": 400,
            "invalidParams": [{"name": name, "code": "invalid", "reason": reason}],
        },
        status_code=400,
        media_type="application/problem+json",
    )


@dataclass
class NotificatieReceiver:
    client_id: str
    secret: str
    kanalen: dict[str, dict[str, Any]] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    refused: int = 0  # answered with the down status
    bad_tokens: int = 0
    down_status: int | None = None

    def down(self, status: int = 503) -> None:
        self.down_status = status

    def up(self) -> None:
        self.down_status = None

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/v1/kanaal", self._kanaal, methods=["GET", "POST"]),
                Route("/api/v1/notificaties", self._notificatie, methods=["POST"]),
            ]
        )

    def _gate(self, request: Request) -> Response | None:
        self.requests += 1
        if self.down_status is not None:
            self.refused += 1
            return problem(self.down_status, "Niet beschikbaar", "tijdelijk buiten dienst")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            if scheme != "Bearer":
                raise jwt.InvalidTokenError("no bearer")
            claims = jwt.decode(
                token, self.secret, algorithms=["HS256"], options={"require": ["iss", "iat"]}
            )
            if claims.get("client_id") != self.client_id or claims["iss"] != self.client_id:
                raise jwt.InvalidTokenError("unknown client")
        except jwt.InvalidTokenError:
            self.bad_tokens += 1
            return problem(403, "Authenticatiegegevens zijn niet geldig", "JWT ongeldig")
        return None

    async def _kanaal(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        if request.method == "GET":
            naam = request.query_params.get("naam")
            found = [k for k in self.kanalen.values() if naam in (None, k["naam"])]
            return JSONResponse(found)
        body = await request.json()
        naam = body.get("naam")
        if not isinstance(naam, str) or not naam or naam in self.kanalen:
            return _invalid("naam", "kanaal met deze naam bestaat al of ontbreekt")
        kanaal = {
            "url": f"{request.base_url}api/v1/kanaal/{len(self.kanalen) + 1}",
            "naam": naam,
            "documentatieLink": body.get("documentatieLink", ""),
            "filters": list(body.get("filters", [])),
        }
        self.kanalen[naam] = kanaal
        return JSONResponse(kanaal, status_code=201)

    async def _notificatie(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        body = await request.json()
        for name in REQUIRED:
            if not isinstance(body.get(name), str) or not body[name]:
                return _invalid(name, "Dit veld is vereist.")
        if body["actie"] not in ACTIES:
            return _invalid("actie", "onbekende actie")
        try:
            datetime.fromisoformat(body["aanmaakdatum"])
        except ValueError:
            return _invalid("aanmaakdatum", "geen datum-tijd")
        kanaal = self.kanalen.get(body["kanaal"])
        if kanaal is None:
            return _invalid("kanaal", "Kanaal bestaat niet.")
        kenmerken = body.get("kenmerken", {})
        if not isinstance(kenmerken, dict) or not all(
            isinstance(v, str) for v in kenmerken.values()
        ):
            return _invalid("kenmerken", "kenmerken zijn tekst")
        if not set(kenmerken) <= set(kanaal["filters"]):
            return _invalid(
                "kenmerken", "Kenmerken aanwezig in NotificatieMessage en Kanaal zijn verschillend."
            )
        self.notifications.append(body)
        return JSONResponse(body, status_code=200)
