"""What playing a scenario yields: a result per step, the evaluated expectations and an
overview of the parties and cases it touched. ``report.py`` prints a ``ScenarioReport``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from scenarios.model import Scenario

# One expectation: what it says, whether it holds, what was found instead.
Verdict = tuple[str, bool, str]


@dataclass
class Outcome:
    """One expectation group, evaluated."""

    step: str
    label: str
    ok: bool
    gap: str | None = None
    detail: str = ""

    @property
    def failed(self) -> bool:
        return not self.ok and self.gap is None

    @property
    def gap_now_passes(self) -> bool:
        return self.ok and self.gap is not None


@dataclass
class StepResult:
    name: str
    kind: str
    actor: str | None
    say: str | None
    transport: str = ""  # e.g. "SMTP", "HTTP", "caseview"
    message_id: uuid.UUID | None = None
    party_id: uuid.UUID | None = None
    case_id: uuid.UUID | None = None
    case_number: str | None = None
    owner: str | None = None
    case_rule: str | None = None
    flags: list[str] = field(default_factory=list)
    refused: int | None = None
    rejected: str | None = None
    reply_id: uuid.UUID | None = None  # a reply step's reply
    reply_status: str | None = None
    seconds: float = 0.0


@dataclass
class CaseOverview:
    id: uuid.UUID
    number: str
    product: str | None
    status: str | None
    owner: str
    participants: list[str]
    handovers: list[dict[str, Any]]
    handover_count: int
    confidential: bool
    result: str | None
    contacts: int
    visibility: dict[str, bool]  # team -> sees the contents


@dataclass
class PartyOverview:
    party_id: uuid.UUID
    label: str  # the actor(s) whose party this is
    display_name: str | None
    provisional: bool
    members: int
    timeline: list[dict[str, Any]]
    cases: list[CaseOverview]
    pending_suggestions: int


@dataclass
class ScenarioReport:
    scenario: Scenario
    run: str
    steps: list[StepResult] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    parties: list[PartyOverview] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    aborted: str | None = None
    seconds: float = 0.0

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failed]

    @property
    def known_gaps(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.gap is not None and not o.ok]

    @property
    def gaps_now_passing(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.gap_now_passes]

    @property
    def passed(self) -> bool:
        return self.aborted is None and not self.failures

    def problems(self) -> str:
        """Everything a test should fail on, one line each."""
        lines = [f"aborted: {self.aborted}"] if self.aborted else []
        lines += [f"[{o.step}] {o.label}: {o.detail}" for o in self.failures]
        lines += [
            f"[{o.step}] known gap now passes, remove its 'gap:' marker: {o.label}"
            for o in self.gaps_now_passing
        ]
        return "\n".join(lines)


class ScenarioError(Exception):
    """The scenario cannot go on (a route refused a message, an outcome never arrived)."""


def outcome(step: str, gap: str | None, checks: list[Verdict]) -> Outcome:
    """The expectation group of a step: it holds when every one of its checks does."""
    failed = [f"{label} (got: {detail})" for label, ok, detail in checks if not ok]
    return Outcome(
        step=step,
        label="; ".join(label for label, _, _ in checks),
        ok=not failed,
        gap=gap,
        detail="; ".join(failed),
    )
