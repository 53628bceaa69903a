"""The scenario file format (YAML), as pydantic models. docs/scenarios.md explains it.

A scenario has *actors* (residents, businesses, staff of named teams) and a script of
*steps*. A step is one of:

- a message on a channel (``web``, ``email``, ``app``, ``chat``, ``phone``, ``counter``,
  ``letter``), sent by a resident or business through the real ingest route (e-mail: over
  HTTP or through the SMTP receiver), with expectations about where it lands;
- a staff action through caseview's API (``handover``, ``add_participant``,
  ``remove_participant``, ``note``, ``status``, ``close``, ``outbound``, ``decide_link``,
  ``reply``: an e-mail to the resident, sent by the outbound service), done by a staff actor
  with a token for that actor's team and role;
- an ``answer``: the resident answers a reply's e-mail (read from Mailpit) to its Reply-To;
- a ``check``: expectations about a case, a party or what a team may see, at that moment.

Steps are named; later steps refer to earlier ones by name (``case: aanvraag`` is the
case the step ``aanvraag`` landed in), because ids are only known when the scenario runs.
Texts may contain ``{actor.field}`` (``bsn``, ``kvk``, ``email``, ``phone``, ``name``) and
``{step.case_number}``; identifiers in the file are stand-ins that every run replaces by
fresh ones (see ``identities.Identities``), so a scenario can be played again and again.

An expectation group may carry ``gap: "..."``: it states the correct behaviour that the
system does not show yet. It is still evaluated; the run reports it as a known gap, and
the end-to-end test fails when a gap starts passing (so the marker gets removed).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field, field_validator, model_validator

from scenarios.references import problems
from scenarios.steps import (
    TEMPLATE,
    ActionExpect,
    Actor,
    Answer,
    AttachmentSpec,
    Business,
    Check,
    DecideLink,
    FormatModel,
    Line,
    MessageExpect,
    Name,
    Person,
    Reply,
    Staff,
    Step,
    Team,
    Text,
)

__all__ = [
    "DATA_DIR",
    "TEMPLATE",
    "ActionExpect",
    "Answer",
    "AttachmentSpec",
    "Business",
    "Check",
    "DecideLink",
    "MessageExpect",
    "Person",
    "Reply",
    "Scenario",
    "Staff",
    "Step",
    "load_all",
    "load_scenario",
    "scenario_files",
]

DATA_DIR = Path(__file__).resolve().parent / "data"


# --- the scenario ----------------------------------------------------------------------


class Scenario(FormatModel):
    name: Name
    title: Line
    municipality: Line
    lessons: list[int] = Field(min_length=1, description="lessons of the seed (1-8)")
    summary: Text
    mailbox: str = Field(
        pattern=r"^[^@\s]+@[a-z0-9.-]+\.[a-z]+$",
        description="the municipality's address e-mails go to (its domain is the SMTP domain)",
    )
    observe_teams: list[Team] = Field(
        default_factory=list,
        description="teams without an actor whose view the report shows (e.g. evenementen)",
    )
    actors: dict[Name, Actor]
    steps: list[Step] = Field(min_length=1)

    @field_validator("lessons")
    @classmethod
    def _lessons(cls, value: list[int]) -> list[int]:
        if any(not 1 <= n <= 8 for n in value):
            raise ValueError("the seed has eight lessons (1-8)")
        return value

    @property
    def mail_domain(self) -> str:
        return self.mailbox.rpartition("@")[2]

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def teams(self) -> set[str]:
        """Every team the scenario names (actors, actions, checks, expectations)."""
        found = set(self.observe_teams)
        found |= {a.team for a in self.actors.values() if isinstance(a, Staff)}
        for s in self.steps:
            action = s.action
            for attr in ("to", "team"):
                if isinstance(getattr(action, attr, None), str) and s.is_action:
                    found.add(getattr(action, attr))
            for e in s.message_expectations:
                if e.owner:
                    found.add(e.owner)
            for c in s.check or []:
                found |= {t for t in (c.owner, c.team) if t}
                found |= set(c.participants or [])
                for chain in c.handovers or []:
                    found |= {t.strip() for t in chain.split("->")}
        return found

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        found = list(problems(self))
        if found:
            raise ValueError("; ".join(found))
        return self


# --- loading ---------------------------------------------------------------------------


def scenario_files(directory: Path = DATA_DIR) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def load_scenario(path: Path) -> Scenario:
    """Parse and validate one file; errors name the file."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        scenario = Scenario.model_validate(doc)
    except (yaml.YAMLError, ValueError) as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    if scenario.name != path.stem.split("_", 1)[-1]:
        raise ValueError(f"{path.name}: name '{scenario.name}' must match the file name")
    return scenario


def load_all(directory: Path = DATA_DIR) -> list[Scenario]:
    return [load_scenario(p) for p in scenario_files(directory)]
