"""Dutch sentences for people: refused input and rejected commands, as the console shows them.

The console shows a problem's ``detail`` to a contact-centre employee, so caseview's
details are Dutch and name the field (``'reason'`` is the API's name; the Dutch
label follows). ``errors`` keeps pydantic's locations and English messages for
programs. Values are never echoed (they may be personal data), except a team id a
check refused, which is an identifier of the routing file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from shared.http import Problem, problem_response

LABELS = {
    "to_team": "team",
    "team": "team",
    "reason": "reden",
    "result": "resultaat",
    "text": "tekst",
    "summary": "samenvatting",
    "status": "status",
    "channel": "kanaal",
    "confirm": "besluit",
    "verify_address": "adres bevestigen",
    "merged_party_id": "samen te voegen dossier",
    "by": "zoeken op",
    "value": "zoekwaarde",
    "limit": "aantal",
    "cursor": "vervolgpagina",
    "X-Purpose": "doel",
    "Idempotency-Key": "idempotentiesleutel",
    "Last-Event-ID": "laatste gebeurtenis",
    "by.user": "medewerker",
    "by.team": "team van de medewerker",
    "from_team": "huidige eigenaar",
}
SOURCES = {"body", "query", "path", "header", "cookie", "command"}


def field_name(loc: Sequence[Any]) -> str:
    """The field a validation error is about, as the API names it (``to_team``, ``by.user``)."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in SOURCES and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts) or "body"


def field(name: str) -> str:
    label = LABELS.get(name)
    return f"'{name}' ({label})" if label else f"'{name}'"


def _problem_with(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "ontbreekt"
    if kind == "string_too_long":
        return f"is te lang: maximaal {ctx.get('max_length')} tekens"
    if kind == "string_too_short":
        return "mag niet leeg zijn"
    if kind == "unstorable_text":
        return "bevat een teken dat niet kan worden opgeslagen (NUL of een losse surrogaat)"
    if kind == "blank_text":
        return "moet meer bevatten dan spaties"
    if kind == "string_pattern_mismatch":
        return "heeft niet de juiste vorm (een team-id: kleine letters, cijfers en streepjes)"
    if kind in ("literal_error", "enum"):
        return f"heeft geen toegestane waarde (toegestaan: {ctx.get('expected', '')})"
    if kind.startswith("uuid"):
        return "is geen geldige id (UUID)"
    if kind.startswith("bool"):
        return "moet true of false zijn"
    if kind == "extra_forbidden":
        return "is geen veld van deze opdracht"
    if kind == "json_invalid":
        return "is geen geldige JSON"
    if kind in ("string_type", "string_unicode"):
        return "moet tekst zijn"
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        return "moet een JSON-object zijn"
    return "is ongeldig"


def validation_detail(errors: Sequence[Mapping[str, Any]]) -> str:
    """One Dutch sentence per field: ``Het veld 'reason' (reden) is te lang: maximaal 2000
    tekens.``"""
    sentences = []
    for error in errors:
        name = field_name(error.get("loc", ()))
        if name == "body":
            sentences.append(f"De inhoud van het verzoek {_problem_with(error)}.")
        else:
            sentences.append(f"Het veld {field(name)} {_problem_with(error)}.")
    return " ".join(dict.fromkeys(sentences)) or "De invoer is ongeldig."


def listed(errors: Sequence[Mapping[str, Any]], prefix: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Locations, messages and types only: never the submitted values."""
    return [
        {
            "loc": [*prefix, *(str(p) for p in e.get("loc", ()))],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


def install_validation_handler(app: FastAPI) -> None:
    """Caseview's 422: as shared/http.py's, with a Dutch ``detail`` that names the fields."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        raw = exc.errors()
        problem = Problem(
            title="Request validation failed",
            status=422,
            detail=validation_detail(raw),
            instance=request.url.path,
            errors=listed(raw),
        )
        return problem_response(problem)


# --- the router's reasons ----------------------------------------------------------------

DECISIONS = {"confirmed": "bevestigd", "rejected": "afgewezen", "pending": "nog open"}
KINDS = {"email": "e-mailadres", "phone": "telefoonnummer", "chat": "chat-account"}

_Reason = Callable[[re.Match[str]], str]
REASONS: list[tuple[re.Pattern[str], _Reason]] = [
    (
        re.compile(r"case is owned by '(.+)', not '(.+)'"),
        lambda m: (
            f"De zaak is inmiddels van team {m[1]}, niet meer van {m[2]}: "
            "alleen de eigenaar kan dit doen."
        ),
    ),
    (re.compile(r"case is already owned by '(.+)'"), lambda m: f"De zaak is al van team {m[1]}."),
    (re.compile(r"team '(.+)' does not exist"), lambda m: f"Team '{m[1]}' bestaat niet."),
    (re.compile(r"case (\S+) is closed"), lambda m: f"Zaak {m[1]} is al afgehandeld."),
    (re.compile(r"unknown case"), lambda m: "De zaak is niet bekend."),
    (re.compile(r"a handover needs a reason"), lambda m: "Een overdracht heeft een reden nodig."),
    (
        re.compile(r"'(.+)' owns the case; owners are not also participants"),
        lambda m: f"Team {m[1]} is eigenaar van de zaak en kan niet ook deelnemen.",
    ),
    (re.compile(r"'(.+)' already participates"), lambda m: f"Team {m[1]} neemt al deel."),
    (
        re.compile(r"'(.+)' does not participate in this case"),
        lambda m: f"Team {m[1]} neemt niet deel aan deze zaak.",
    ),
    (
        re.compile(r"status must be one of"),
        lambda m: "Die status bestaat niet; een zaak sluit u af met een resultaat.",
    ),
    (
        re.compile(r"case already has status '(.+)'"),
        lambda m: f"De zaak heeft al de status '{m[1]}'.",
    ),
    (re.compile(r"unknown suggestion"), lambda m: "De voorgestelde koppeling is niet bekend."),
    (
        re.compile(r"suggestion was already (\w+)"),
        lambda m: f"Over deze voorgestelde koppeling is al besloten: {DECISIONS.get(m[1], m[1])}.",
    ),
    (
        re.compile(r"there is no claimed e-mail address"),
        lambda m: (
            "Er is geen opgegeven e-mailadres, telefoonnummer of chat-account om te bevestigen."
        ),
    ),
    (
        re.compile(r"that (\w+) is already verified for another party"),
        lambda m: f"Dat {KINDS.get(m[1], m[1])} is al bevestigd voor een ander dossier.",
    ),
    (re.compile(r"unknown party"), lambda m: "Die inwoner of ondernemer is niet bekend."),
    (
        re.compile(r"that party is already merged into another"),
        lambda m: "Dat dossier is al samengevoegd met een ander.",
    ),
    (
        re.compile(r"a party cannot be merged into itself"),
        lambda m: "Een dossier kan niet met zichzelf worden samengevoegd.",
    ),
    (re.compile(r"unknown merge"), lambda m: "Die samenvoeging is niet bekend."),
    (
        re.compile(r"this merge was already undone"),
        lambda m: "Die samenvoeging is al ongedaan gemaakt.",
    ),
    (
        re.compile(r"invalid command: ([\w.]+)"),
        lambda m: f"De opdracht is ongeldig: het veld {field(m[1])} klopt niet.",
    ),
]


def rejection_detail(reason: str) -> str:
    """The router's reason (English, for programs and logs) as a Dutch sentence."""
    for pattern, sentence in REASONS:
        found = pattern.search(reason)
        if found is not None:
            return sentence(found)
    return f"De opdracht is geweigerd: {reason}"
