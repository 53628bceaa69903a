"""``POST /v1/channels/open-formulieren``: Open Formulieren's generic JSON registration.

Answers as the plugin expects: 201 with a JSON body it stores as the registration's result
(any other status marks the registration failed, and Open Formulieren retries it later), and
RFC 9457 problems in Dutch, the language of the people who read them there. The body is
read here, not by FastAPI, so even a validation problem is in Dutch."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError

from services.ingest.api import accept
from services.ingest.auth import Caller, ChannelNotAllowedError, UnknownKeyError
from services.ingest.open_formulieren import ROUTE_NAME
from services.ingest.open_formulieren.body import BadFileError, JsonDump
from services.ingest.open_formulieren.mapping import FormMappings
from services.ingest.open_formulieren.message import (
    LoginNotAllowedError,
    MissingLoginValueError,
    submission,
)
from shared.contracts import Channel
from shared.http import PROBLEM_RESPONSES, ProblemError

router = APIRouter(prefix="/v1/channels", tags=["channels"])
bearer = HTTPBearer(
    auto_error=False,
    description="The integration key of Open Formulieren (its Service: API key, header "
    "'Authorization', value 'Bearer <key>').",
)


class Registered(BaseModel):
    """What Open Formulieren stores as the registration's result (``api_response``)."""

    message_id: uuid.UUID
    reference: str
    status: str = "ontvangen"
    duplicate: bool = False


# The shared problems of Intake.accept (api.accept), in Dutch: same status, headers, errors.
_DUTCH: dict[int, tuple[str, str]] = {
    409: (
        "Inzending wordt nog verwerkt",
        "Een eerdere inzending met dit kenmerk is nog niet bevestigd; probeer het na de "
        "Retry-After-tijd opnieuw.",
    ),
    413: ("Bijlagen te groot", "Te veel of te grote bijlagen: {detail}"),
    422: (
        "Kenmerk al gebruikt",
        "Dit kenmerk (public_reference) is eerder gebruikt voor een inzending met andere inhoud.",
    ),
    503: (
        "Tijdelijk niet beschikbaar",
        "De inzending is niet aangenomen; probeer het na de Retry-After-tijd opnieuw.",
    ),
}


def _dutch(exc: ProblemError) -> ProblemError:
    title, detail = _DUTCH.get(exc.problem.status, ("Inzending geweigerd", "{detail}"))
    translated = ProblemError(
        exc.problem.status,
        title,
        detail.format(detail=exc.problem.detail or ""),
        headers=exc.headers,
        errors=exc.problem.errors,
        reason=exc.reason,
    )
    return translated


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The body's JSON schema with its ``$defs`` in place: the OpenAPI document has no
    ``#/$defs`` for a schema given by hand (FastAPI registers only the models it reads)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _caller(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    key = credentials.credentials if credentials is not None else None
    try:
        return request.app.state.authenticator.authenticate(key, Channel.WEB)  # type: ignore[no-any-return]
    except UnknownKeyError as exc:
        raise ProblemError(
            401,
            "Sleutel ontbreekt of is onbekend",
            "Stuur de integratiesleutel als 'Authorization: Bearer <sleutel>'.",
            headers={"WWW-Authenticate": "Bearer"},
        ) from exc
    except ChannelNotAllowedError as exc:
        raise ProblemError(
            403,
            "Sleutel niet toegestaan",
            "Deze sleutel mag geen webformulieren (kanaal 'web') insturen.",
        ) from exc


def _read(raw: bytes, content_type: str) -> JsonDump:
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ProblemError(415, "Verkeerd mediatype", "Stuur de inzending als application/json.")
    try:
        return JsonDump.model_validate_json(raw)
    except ValidationError as exc:
        # Locations and messages only, never the submitted values.
        errors = [
            {"loc": ["body", *map(str, e["loc"])], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise ProblemError(
            422,
            "Ongeldige inzending",
            f"{len(errors)} veld(en) ontbreken of zijn ongeldig; zie 'errors'.",
            errors=errors,
        ) from exc


def _invalid(title: str, detail: str, loc: list[str], kind: str) -> ProblemError:
    return ProblemError(422, title, detail, errors=[{"loc": loc, "msg": detail, "type": kind}])


@router.post(
    f"/{ROUTE_NAME}",
    operation_id="submitOpenFormulieren",
    status_code=201,
    summary="Accept a form submission from Open Formulieren (generic JSON registration)",
    response_model=Registered,
    responses={
        **PROBLEM_RESPONSES,
        401: PROBLEM_RESPONSES[400] | {"description": "Sleutel ontbreekt of is onbekend"},
        403: PROBLEM_RESPONSES[400]
        | {"description": "Sleutel niet voor kanaal 'web', of mag geen inlog bevestigen"},
        409: PROBLEM_RESPONSES[400] | {"description": "Eerdere inzending nog niet bevestigd"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline(JsonDump.model_json_schema())}},
        }
    },
)
async def submit_open_formulieren(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> JSONResponse:
    caller = _caller(request, credentials)
    body = _read(await request.body(), request.headers.get("content-type", ""))
    meta = body.metadata
    forms: FormMappings = request.app.state.open_formulieren
    mapping = forms.find(meta.form_id, meta.slug)
    if mapping is None:
        raise _invalid(
            "Onbekend formulier",
            "Voor dit formulier (form_id, form_url) staat niets in het koppelbestand, en "
            "het heeft geen 'default'.",
            ["body", "metadata", "form_id"],
            "unknown_form",
        )
    try:
        prepared = submission(body, mapping, caller)
    except LoginNotAllowedError as exc:
        raise ProblemError(
            403,
            "Inlog niet toegestaan",
            "Deze sleutel mag geen DigiD- of eHerkenning-inlog bevestigen.",
        ) from exc
    except MissingLoginValueError as exc:
        field = "auth_bsn" if meta.auth_type == "bsn" else "auth_kvk"
        raise _invalid(
            "Inloggegevens ontbreken",
            f"auth_type '{meta.auth_type}' zonder '{field}' in de metadata: voeg "
            f"'{field}' toe aan de extra metadatavariabelen van de registratie.",
            ["body", "metadata", field],
            "missing_login_value",
        ) from exc
    except BadFileError as exc:
        raise _invalid(
            "Ongeldige bijlage",
            "Een bestand is niet {file_name, content} met base64-inhoud.",
            ["body", *exc.path.split(".")],
            "invalid_file",
        ) from exc
    except ValueError as exc:  # auth_bsn failing the 11-proef
        raise _invalid(
            "Ongeldig BSN",
            "auth_bsn is geen geldig BSN (11-proef).",
            ["body", "metadata", "auth_bsn"],
            "invalid_bsn",
        ) from exc
    try:
        accepted = await accept(
            request.app.state.intake, prepared, request.app.state.settings.retry_after_seconds
        )
    except ProblemError as exc:
        raise _dutch(exc) from exc
    answer = Registered(
        message_id=accepted.message_id,
        reference=meta.public_reference,
        duplicate=accepted.duplicate,
    )
    return JSONResponse(answer.model_dump(mode="json"), status_code=201)
