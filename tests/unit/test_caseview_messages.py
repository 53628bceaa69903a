"""Caseview's refusals are Dutch and name the field; the router's reasons (English, for
programs and logs) become Dutch sentences for the person who sent the command."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from services.caseview.commands.models import HandOverRequest, NoteRequest
from services.caseview.messages import rejection_detail, validation_detail


def _detail(model: type[BaseModel], data: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(data)
    return validation_detail(
        [{**e, "loc": ("body", *e["loc"])} for e in refused.value.errors(include_input=False)]
    )


def test_a_refused_field_is_named_in_dutch_without_its_value():
    detail = _detail(NoteRequest, {"text": "geheim\x00"})
    assert detail == (
        "Het veld 'text' (tekst) bevat een teken dat niet kan worden opgeslagen "
        "(NUL of een losse surrogaat)."
    )
    assert "geheim" not in detail
    assert _detail(NoteRequest, {"text": "x" * 20_001}) == (
        "Het veld 'text' (tekst) is te lang: maximaal 20000 tekens."
    )
    assert _detail(HandOverRequest, {"to_team": "kcc"}) == "Het veld 'reason' (reden) ontbreekt."
    assert "'to_team' (team) heeft niet de juiste vorm" in _detail(
        HandOverRequest, {"to_team": "Team X", "reason": "r"}
    )
    assert _detail(HandOverRequest, {"to_team": "kcc", "reason": "  "}) == (
        "Het veld 'reason' (reden) moet meer bevatten dan spaties."
    )


@pytest.mark.parametrize(
    ("reason", "dutch"),
    [
        (
            "case is owned by 'handhaving', not 'kcc'",
            "De zaak is inmiddels van team handhaving, niet meer van kcc: "
            "alleen de eigenaar kan dit doen.",
        ),
        ("team 'bestaat-niet' does not exist", "Team 'bestaat-niet' bestaat niet."),
        ("case ZAAK-2026-0000000001 is closed", "Zaak ZAAK-2026-0000000001 is al afgehandeld."),
        ("unknown case", "De zaak is niet bekend."),
        ("'zorg' already participates", "Team zorg neemt al deel."),
        ("case already has status 'open'", "De zaak heeft al de status 'open'."),
        (
            "suggestion was already confirmed",
            "Over deze voorgestelde koppeling is al besloten: bevestigd.",
        ),
        ("this merge was already undone", "Die samenvoeging is al ongedaan gemaakt."),
        (
            "invalid command: text: contains a character that cannot be stored",
            "De opdracht is ongeldig: het veld 'text' (tekst) klopt niet.",
        ),
        ("something new", "De opdracht is geweigerd: something new"),
    ],
)
def test_the_routers_reasons_in_dutch(reason, dutch):
    assert rejection_detail(reason) == dutch
