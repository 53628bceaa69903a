"""The scenario runner's pure parts, without a stack: every message of every scenario file
is built into a body that ingest's own request model (or e-mail parser) accepts, a scenario
that does not fit a channel's contract fails while it is built and names itself, and the
report says what failed."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, TypeAdapter
from rich.console import Console

from scenarios.model import Business, Person, Scenario, load_scenario, scenario_files
from scenarios.play import Play
from scenarios.report import print_report
from scenarios.results import Outcome, ScenarioError, ScenarioReport
from scenarios.send import build, email_message
from scenarios.stack import MAIL_GATEWAY
from scenarios.staff import action_body
from services.ingest.channels import email as email_channel
from services.ingest.channels.app import AppMessage
from services.ingest.channels.chat import ChatEvent
from services.ingest.channels.counter import CounterVisit
from services.ingest.channels.letter import ScannedLetter
from services.ingest.channels.phone import CallRecord
from services.ingest.channels.webform import WebFormSubmission

FILES = scenario_files()
# What ingest validates each JSON channel's body with (services/ingest/api.py).
CONTRACTS: dict[str, Any] = {
    "web": WebFormSubmission,
    "app": AppMessage,
    "chat": ChatEvent,
    "phone": CallRecord,
    "counter": CounterVisit,
    "letter": ScannedLetter,
}


def _sender(play: Play, actor: str | None) -> Person | Business:
    assert actor is not None
    sender = play.scenario.actors[actor]
    assert isinstance(sender, Person | Business)
    return sender


def _dry_run(scenario: Scenario) -> list[tuple[str, dict[str, Any] | bytes]]:
    """Every message step's body in order, as if each landed in a case of its own."""
    play = Play(scenario)
    bodies: list[tuple[str, dict[str, Any] | bytes]] = []
    for number, step in enumerate(scenario.steps, 1):
        result = play.start(step)
        if step.is_message:
            actor = _sender(play, step.actor)
            if step.email:
                bodies.append(("email", email_message(play, step, actor).as_bytes()))
            else:
                bodies.append((step.kind, build(play, step, actor)))
            result.message_id = uuid.uuid4()
            result.party_id = uuid.uuid4()
        result.case_id = uuid.uuid4()
        result.case_number = f"ZAAK-2026-{number:010d}"
    return bodies


@pytest.mark.parametrize("path", FILES, ids=lambda p: Path(p).stem)
def test_every_message_fits_its_channels_contract(path: Path) -> None:
    for channel, body in _dry_run(load_scenario(path)):
        if isinstance(body, bytes):
            parsed = email_channel.parse(body)
            assert parsed.from_address
            continue
        assert None not in body.values()
        model: BaseModel = TypeAdapter(CONTRACTS[channel]).validate_json(json.dumps(body))
        # What is sent is exactly what the model holds: nothing dropped or added on the way.
        assert model.model_dump(mode="json", exclude_none=True, by_alias=True) == body


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(FILES[0].read_text(encoding="utf-8"))
    return copy.deepcopy(doc)


def _first_message(doc: dict[str, Any], channel: str, spec: dict[str, Any]) -> None:
    step = doc["steps"][0]
    for kind in ("web", "email", "app", "chat", "phone", "counter", "letter"):
        step.pop(kind, None)
    step[channel] = spec
    step.pop("expect", None)


def test_the_web_form_carries_the_login_and_fresh_identifiers() -> None:
    scenario = Scenario.model_validate(_doc())
    step = scenario.steps[0]
    play = Play(scenario)
    play.start(step)
    body = build(play, step, _sender(play, step.actor))
    assert body["submission_id"] == f"{play.run}-{step.name}"
    assert body["authentication"] == (step.web.login if step.web else None)
    assert body["text"] == play.fill(step.web.text if step.web else None)
    actor = _sender(play, step.actor)
    if actor.email:
        assert body["email"] == play.ids.get("email", actor.email) != actor.email


def test_a_letter_carries_its_scan() -> None:
    doc = _doc()
    _first_message(doc, "letter", {"address": ["Markt 1", "5000 AA Tilburg"], "text": "Brief"})
    scenario = Scenario.model_validate(doc)
    play = Play(scenario)
    step = scenario.steps[0]
    play.start(step)
    letter = ScannedLetter.model_validate(build(play, step, _sender(play, step.actor)))
    assert letter.scan.media_type == "application/pdf"
    assert letter.scan.content_base64.startswith(b"%PDF")
    assert letter.sender.address_lines == ["Markt 1", "5000 AA Tilburg"]


def test_a_message_outside_the_contract_fails_while_built_naming_scenario_and_step() -> None:
    doc = _doc()
    # The scenario format allows a long line name; the telephony contract does not.
    _first_message(doc, "phone", {"line": "1" * 80, "notes": "Belt over de vergunning"})
    doc["actors"][doc["steps"][0]["actor"]]["phone"] = "+31612345678"
    scenario = Scenario.model_validate(doc)
    play = Play(scenario)
    step = scenario.steps[0]
    play.start(step)
    with pytest.raises(ScenarioError) as caught:
        build(play, step, _sender(play, step.actor))
    message = str(caught.value)
    assert f"scenario '{scenario.name}', step '{step.name}'" in message
    assert "CallRecord" in message
    assert "called_line" in message


def test_an_authenticated_mail_names_the_gateway_as_evidence() -> None:
    doc = _doc()
    actor = doc["steps"][0]["actor"]
    doc["actors"][actor]["email"] = "inwoner@example.nl"
    _first_message(doc, "email", {"via": "smtp", "subject": "Vraag", "text": "Hallo"})
    scenario = Scenario.model_validate(doc)
    play = Play(scenario)
    step = scenario.steps[0]
    play.start(step)
    parsed = email_channel.parse(email_message(play, step, _sender(play, step.actor)).as_bytes())
    assert parsed.from_address == play.ids.get("email", "inwoner@example.nl")
    assert email_channel.from_evidence(parsed, [MAIL_GATEWAY]) is not None
    assert play.done[step.name].mail_id is not None


def test_a_status_change_sends_the_yaml_word() -> None:
    scenario = next(s for s in map(load_scenario, FILES) if any(x.status for x in s.steps))
    step = next(s for s in scenario.steps if s.status)
    assert action_body(Play(scenario), step) == {"status": "in behandeling"}
    doc = yaml.safe_load(FILES[0].read_text(encoding="utf-8"))
    doc["steps"].append(
        {
            "name": "sluiten",
            "actor": step.actor or "",
            "status": {"case": doc["steps"][0]["name"], "status": "afgehandeld"},
        }
    )
    with pytest.raises(ValueError, match="a status change sets one of"):
        Scenario.model_validate(doc)


def test_the_report_names_failures_aborts_and_gaps_that_pass_now() -> None:
    report = ScenarioReport(scenario=load_scenario(FILES[0]), run="abc12345")
    report.outcomes = [
        Outcome("aanvraag", "owner kcc", ok=False, detail="owner kcc (got: owner wmo)"),
        Outcome("melding", "new case: True", ok=True, gap="not yet"),
        Outcome("later", "flags []", ok=False, gap="known"),
        Outcome("(invariant)", "one owner", ok=True),
    ]
    report.aborted = "step 'x': POST /v1/channels/web: 422"
    assert not report.passed
    assert report.problems().splitlines() == [
        "aborted: step 'x': POST /v1/channels/web: 422",
        "[aanvraag] owner kcc: owner kcc (got: owner wmo)",
        "[melding] known gap now passes, remove its 'gap:' marker: new case: True",
    ]
    console = Console(record=True, width=160, force_terminal=False)
    print_report(report, console)
    text = console.export_text()
    assert "MISLUKT" in text
    assert "1 verwachtingen gehaald, 1 niet, 1 bekende gaten" in text
    assert "waarom: known" in text
    assert "afgebroken: step 'x'" in text
