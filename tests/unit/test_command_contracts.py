"""Staff commands (shared/contracts/commands.py) refuse, in the model itself, what PostgreSQL
cannot store (NUL, lone surrogates) and what the router's columns cannot hold: caseview
answers a 4xx before publishing, and the router rejects the same input (never a dead
letter). Parametrised over every free-text field of every command, found by introspection
so a new field is covered without editing this file."""

from __future__ import annotations

import types
import typing
import uuid
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import String

from services.router import orm as router_orm
from shared.contracts import Actor, Event
from shared.contracts import commands as c

BY = {"user": "u-medewerker", "team": "kcc"}
VALID: dict[type[Event], dict[str, Any]] = {
    c.HandOverCase: {
        "case_id": uuid.uuid4(),
        "from_team": "kcc",
        "to_team": "handhaving",
        "reason": "Hoort bij handhaving",
        "by": BY,
    },
    c.AddParticipant: {"case_id": uuid.uuid4(), "team": "zorg", "reason": "vooroverleg", "by": BY},
    c.RemoveParticipant: {"case_id": uuid.uuid4(), "team": "zorg", "reason": "klaar", "by": BY},
    c.ChangeStatus: {"case_id": uuid.uuid4(), "status": "in behandeling", "by": BY},
    c.CloseCase: {"case_id": uuid.uuid4(), "result": "Vergunning verleend", "by": BY},
    c.AddNote: {"case_id": uuid.uuid4(), "text": "Gebeld", "by": BY},
    c.RegisterOutboundContact: {
        "case_id": uuid.uuid4(),
        "channel": "phone",
        "summary": "Teruggebeld",
        "by": BY,
    },
    c.DecideLink: {"suggestion_id": uuid.uuid4(), "confirm": True, "reason": "Zelfde", "by": BY},
    c.MergeParties: {
        "party_id": uuid.uuid4(),
        "merged_party_id": uuid.uuid4(),
        "reason": "Zelfde persoon",
        "by": BY,
    },
    c.UnmergeParties: {"merge_id": uuid.uuid4(), "reason": "Vergissing", "by": BY},
    c.SendReply: {
        "reply_id": uuid.uuid4(),
        "case_id": uuid.uuid4(),
        "identifier_id": uuid.uuid4(),
        "channel": "email",
        "subject": "Uw aanvraag",
        "text": "Beste inwoner, ...",
        "template": "paspoort-ontvangen",
        "by": BY,
    },
    c.SetContactPreferences: {
        "party_id": uuid.uuid4(),
        "preferred_channel": "email",
        "opted_out": ["sms"],
        "reason": "Inwoner belde: liever geen sms",
        "by": BY,
    },
}

# What each free-text field must hold at most: the router's columns (String(n)) where it
# stores them; the rest are Text columns and JSON in the timeline, bounded so an entry
# stays a readable size.
LIMITS = {
    "from_team": router_orm.cases.c.owner_team.type,
    "to_team": router_orm.cases.c.owner_team.type,
    "team": router_orm.case_participants.c.team.type,
    "by.user": router_orm.merges.c.by_user.type,
    "by.team": router_orm.merges.c.by_team.type,
    "reason": 2000,
    "result": 2000,
    "text": 20_000,
    "summary": 20_000,
    "subject": 200,  # SendReply: an e-mail's subject
    "template": 100,  # SendReply: a template's name
}


def _limit(path: str) -> int:
    limit = LIMITS[path]
    if isinstance(limit, String):
        assert limit.length is not None
        return limit.length
    assert isinstance(limit, int)
    return limit


def _is_text(annotation: Any) -> bool:
    if annotation is str:
        return True
    if typing.get_origin(annotation) is Annotated:
        return _is_text(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_text(a) for a in typing.get_args(annotation))
    return False


def _text_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, info in model.model_fields.items():
        if info.annotation is Actor:
            paths += _text_fields(Actor, f"{prefix}{name}.")
        elif _is_text(info.annotation):
            paths.append(f"{prefix}{name}")
    return paths


FIELDS = [
    pytest.param(model, path, id=f"{model.__name__}.{path}")
    for model in c.COMMAND_TYPES
    for path in _text_fields(model)
]


def _with(model: type[Event], path: str, value: str) -> dict[str, Any]:
    data = {**VALID[model], "by": dict(BY)}
    *parents, leaf = path.split(".")
    target = data
    for p in parents:
        target = target[p]
    target[leaf] = value
    return data


def _refused_at(model: type[Event], data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(data)
    return [(".".join(str(p) for p in e["loc"]), e["type"]) for e in refused.value.errors()]


def test_every_command_has_a_valid_example_and_free_text():
    assert set(VALID) == set(c.COMMAND_TYPES)
    for model, data in VALID.items():
        model.model_validate(data)
        assert _text_fields(model), model  # at least the actor's user
    assert len(FIELDS) >= 25


@pytest.mark.parametrize(("model", "path"), FIELDS)
@pytest.mark.parametrize(
    "bad",
    ["a\x00b", "\x00", "a\ud800b", "\udfff"],
    ids=["nul", "nul-only", "high-surrogate", "low-surrogate"],
)
def test_text_postgresql_cannot_store_is_refused(model, path, bad):
    errors = _refused_at(model, _with(model, path, bad))
    assert [loc for loc, _ in errors] == [path]


@pytest.mark.parametrize(("model", "path"), FIELDS)
def test_every_free_text_field_has_a_limit_the_router_can_hold(model, path):
    limit = _limit(path)
    model.model_validate(_with(model, path, "x" * limit))
    errors = _refused_at(model, _with(model, path, "x" * (limit + 1)))
    assert errors == [(path, "string_too_long")]


@pytest.mark.parametrize(
    ("model", "path"),
    [
        (c.HandOverCase, "reason"),
        (c.CloseCase, "result"),
        (c.AddNote, "text"),
        (c.RegisterOutboundContact, "summary"),
        (c.MergeParties, "reason"),
        (c.UnmergeParties, "reason"),
    ],
)
def test_required_text_is_not_blank(model, path):
    errors = _refused_at(model, _with(model, path, " \n\t "))
    assert [loc for loc, _ in errors] == [path]


def test_a_status_is_one_of_the_open_statuses():
    errors = _refused_at(c.ChangeStatus, {**VALID[c.ChangeStatus], "status": "afgehandeld"})
    assert [loc for loc, _ in errors] == ["status"]


def test_ordinary_text_passes_unchanged():
    text = "Café \u2018t Hoekje — 20 m² terras 🎉\nTab\tend\u200b\ufffd"
    note = c.AddNote.model_validate(_with(c.AddNote, "text", text))
    assert note.text == text
