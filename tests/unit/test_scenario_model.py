"""The scenario files are valid without any infrastructure: every file parses, refers only to
earlier steps, known actors and teams of the routing file, and together they use every
channel the demo promises (e-mail over HTTP and over SMTP)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from stdnum.nl import bsn

from scenarios.identities import Identities, random_bsn, random_mobile
from scenarios.model import Scenario, load_all, load_scenario, scenario_files
from scenarios.stack import ingest_env, routing_teams

FILES = scenario_files()


def test_there_are_the_two_simulations_and_the_hard_cases() -> None:
    names = [s.name for s in load_all()]
    assert {"tilburg", "groningen"} <= set(names)
    assert len(names) >= 5
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("path", FILES, ids=lambda p: Path(p).stem)
def test_file_is_valid(path: Path) -> None:
    scenario = load_scenario(path)
    unknown = scenario.teams() - set(routing_teams())
    assert not unknown, f"teams not in the routing file: {sorted(unknown)}"
    assert any(s.is_message for s in scenario.steps)
    assert all(s.say is None or s.say.strip() for s in scenario.steps)


def test_scenarios_use_every_channel_and_both_mail_transports() -> None:
    steps = [s for sc in load_all() for s in sc.steps]
    kinds = {s.kind for s in steps}
    assert {"web", "email", "app", "chat", "phone", "counter"} <= kinds
    assert {s.email.via for s in steps if s.email} == {"http", "smtp"}
    assert {"handover", "add_participant", "note", "status", "close", "decide_link"} <= kinds


def test_tilburg_and_groningen_say_what_the_brief_asks() -> None:
    tilburg = load_scenario(next(p for p in FILES if p.stem.endswith("tilburg")))
    handovers = [s for s in tilburg.steps if s.handover and not s.action_expectations]
    assert len(handovers) == 1
    assert {s.add_participant.team for s in tilburg.steps if s.add_participant} == {
        "handhaving",
        "veiligheid",
    }
    assert any(s.close for s in tilburg.steps)
    groningen = load_scenario(next(p for p in FILES if p.stem.endswith("groningen")))
    kinds = [s.kind for s in groningen.steps if s.is_message]
    assert kinds[:3] == ["app", "phone", "counter"] and "email" in kinds
    assert any(c.does_not_see for s in groningen.steps for c in s.check or [])


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(FILES[0].read_text(encoding="utf-8"))
    return copy.deepcopy(doc)


def _invalid(doc: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Scenario.model_validate(doc)


def test_a_reference_to_a_later_or_unknown_step_is_refused() -> None:
    doc = _doc()
    doc["steps"][1]["handover"]["case"] = "bestaat-niet"
    _invalid(doc, "not an earlier step")


def test_a_template_must_name_an_actor_field_or_an_earlier_step() -> None:
    doc = _doc()
    doc["steps"][0]["web"]["text"] = "Zie {eindstand.case_number}"
    _invalid(doc, "names no actor or earlier step")
    doc = _doc()
    doc["steps"][0]["web"]["text"] = "Mijn BSN is {organisator.bsn}"
    _invalid(doc, "has no bsn")


def test_messages_come_from_residents_and_actions_from_staff() -> None:
    doc = _doc()
    doc["steps"][0]["actor"] = "kcc-medewerker"
    _invalid(doc, "not staff")
    doc = _doc()
    doc["steps"][1]["actor"] = "organisator"
    _invalid(doc, "needs a staff actor")


def test_a_step_has_exactly_one_kind_and_a_check_one_subject() -> None:
    doc = _doc()
    doc["steps"][0]["note"] = {"case": "aanvraag", "text": "x"}
    _invalid(doc, "exactly one of")
    doc = _doc()
    doc["steps"].append({"name": "dubbel", "check": {"case": "aanvraag", "team": "kcc"}})
    _invalid(doc, "exactly one of 'case', 'party' or 'team'")
    doc = _doc()
    doc["steps"].append({"name": "leeg", "check": {"case": "aanvraag", "sees": ["aanvraag"]}})
    _invalid(doc, "cannot have sees")


def test_logins_need_their_identifier_and_bsns_pass_the_elfproef() -> None:
    doc = _doc()
    doc["steps"][0]["web"]["login"] = "digid"
    _invalid(doc, "DigiD login needs an actor with a BSN")
    doc = _doc()
    doc["actors"]["inwoner"] = {"kind": "resident", "name": "X", "bsn": "123456789"}
    _invalid(doc, "11-proef")


def test_unknown_fields_are_refused() -> None:
    doc = _doc()
    doc["steps"][0]["expect"]["owne"] = "kcc"
    _invalid(doc, "owne")


def test_identities_are_fresh_per_run_and_shared_within_one() -> None:
    one, two = Identities("run1"), Identities("run2")
    assert one.get("email", "gezin@example.nl") == one.get("email", "gezin@example.nl")
    assert one.get("email", "gezin@example.nl") != two.get("email", "gezin@example.nl")
    assert one.get("bsn", "111222333") == one.get("bsn", "111222333")
    assert one.get("bsn", "111222333") != one.get("bsn", "123456782")
    assert all(bsn.is_valid(random_bsn()) for _ in range(200))
    assert all(n.startswith("+316") and len(n) == 12 for n in (random_mobile() for _ in range(50)))


def test_ingest_configuration_covers_every_mail_domain() -> None:
    env = ingest_env(smtp_port=2525, mail_domains=[s.mail_domain for s in load_all()])
    assert env["EENLOKET_ALLOW_ANONYMOUS"] == "false"
    domains = yaml.safe_load(env["EENLOKET_SMTP_DOMAINS"])
    assert "tilburg.example" in domains and "groningen.example" in domains
