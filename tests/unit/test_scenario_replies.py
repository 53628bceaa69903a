"""The scenario runner's reply parts without a stack (issue #17): the ``reply`` and ``answer``
steps validate, the resident's answer is written as a mail program writes it (to the
Reply-To, threaded) and ingest's e-mail parser reads it so, and the mail as it arrived is
judged on its token Reply-To and its threading."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
import yaml

from scenarios.mailbox import ArrivedMail
from scenarios.model import Business, Scenario, load_scenario, scenario_files
from scenarios.play import Play
from scenarios.replies import answer_message, threading
from services.ingest.channels import email as email_channel

TILBURG = next(p for p in scenario_files() if p.stem.endswith("tilburg"))
TOKEN = "abcdefghijklmnopqrstuvwxyz"


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(TILBURG.read_text(encoding="utf-8"))
    return copy.deepcopy(doc)


def _step(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in doc["steps"] if s["name"] == name)
    return found


def _arrived(**changes: Any) -> ArrivedMail:
    mail = {
        "message_id": f"{uuid.uuid4()}@tilburg.example",
        "subject": "Uitkomst vooroverleg",
        "reply_to": f"Gemeente Tilburg <antwoord+{TOKEN}@tilburg.example>",
        "references": "<eerder.1@spoorparklive.example>",
        "headers": {"in-reply-to": ["<eerder.1@spoorparklive.example>"]},
    }
    return ArrivedMail(**(mail | changes))


def test_tilburg_replies_and_the_organiser_answers_on_the_same_case() -> None:
    scenario = load_scenario(TILBURG)
    reply = next(s for s in scenario.steps if s.reply)
    answer = next(s for s in scenario.steps if s.answer)
    assert reply.reply is not None
    assert answer.answer is not None
    assert answer.answer.reply == reply.name
    assert answer.brings_message
    assert not answer.is_message  # not a channel's builder: read from Mailpit, sent over SMTP
    assert [e.case for e in answer.message_expectations] == [reply.name]


def test_a_reply_needs_words_a_recipient_with_an_address_and_an_answer_a_reply() -> None:
    doc = _doc()
    del _step(doc, "terugkoppeling")["reply"]["template"]
    del _step(doc, "terugkoppeling")["reply"]["text"]
    with pytest.raises(ValueError, match="needs a 'template', a 'text' or both"):
        Scenario.model_validate(doc)
    doc = _doc()
    _step(doc, "terugkoppeling")["reply"]["recipient"] = "handhaver"
    with pytest.raises(ValueError, match="needs an e-mail address"):
        Scenario.model_validate(doc)
    doc = _doc()
    _step(doc, "bevestiging")["answer"]["reply"] = "antwoord"
    with pytest.raises(ValueError, match="must be a reply step"):
        Scenario.model_validate(doc)
    doc = _doc()
    _step(doc, "bevestiging")["actor"] = "kcc-medewerker"
    with pytest.raises(ValueError, match="not staff"):
        Scenario.model_validate(doc)


def test_the_answer_goes_to_the_reply_to_threaded_and_ingest_reads_it_so() -> None:
    scenario = load_scenario(TILBURG)
    play = Play(scenario)
    step = next(s for s in scenario.steps if s.answer)
    actor = scenario.actors[step.actor or ""]
    assert isinstance(actor, Business)
    play.start(step)
    mail = _arrived()
    msg = answer_message(play, step, actor, mail)
    assert msg["To"] == f"antwoord+{TOKEN}@tilburg.example"
    assert msg["Subject"] == "Re: Uitkomst vooroverleg"
    parsed = email_channel.parse(msg.as_bytes())
    assert parsed.in_reply_to == [mail.message_id]
    assert parsed.references == ["eerder.1@spoorparklive.example", mail.message_id]
    assert parsed.from_address == play.ids.get("email", actor.email or "")
    assert play.done[step.name].mail_id == parsed.message_id
    # Already "Re:" stays one "Re:".
    again = answer_message(play, step, actor, _arrived(subject="RE: Uitkomst"))
    assert again["Subject"] == "RE: Uitkomst"


def test_the_mail_is_judged_on_its_token_reply_to_and_threading() -> None:
    assert threading("b", "r", _arrived()).ok
    with_case = _arrived(reply_to="antwoord+ZAAK-2026-0000000001@tilburg.example")
    assert not threading("b", "r", with_case).ok
    assert not threading("b", "r", _arrived(reply_to=None)).ok
    unthreaded = threading("b", "r", _arrived(headers={}))
    assert not unthreaded.ok
    assert "In-Reply-To" in unthreaded.detail
    assert TOKEN not in threading("b", "r", with_case).detail  # no token in the report
