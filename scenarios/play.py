"""One playing of a scenario: its run id, the fresh identities, what each step left behind,
and the templates filled from them. Pure: no network, so the builders that read it can be
tested without a stack."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from scenarios.identities import Identities
from scenarios.model import TEMPLATE, Business, Person, Scenario, Step
from scenarios.results import ScenarioError, ScenarioReport, StepResult

# What a login proves, so a form with that login carries it (besides e-mail and phone).
LOGIN_IDENTIFIERS = {"digid": ["bsn"], "eherkenning": ["kvk"]}


@dataclass
class Done:
    """What a step left for later steps to refer to."""

    step: Step
    result: StepResult
    mail_id: str | None = None  # the e-mail's Message-ID


@dataclass
class Play:
    scenario: Scenario
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    done: dict[str, Done] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ids = Identities(self.run)
        self.report = ScenarioReport(scenario=self.scenario, run=self.run)

    @property
    def purpose(self) -> str:
        """The X-Purpose of every caseview request of this run (its audit log names it)."""
        return f"Scenario {self.scenario.name} ({self.run})"

    def start(self, step: Step) -> StepResult:
        result = StepResult(step.name, step.kind, step.actor, step.say)
        self.done[step.name] = Done(step, result)
        self.report.steps.append(result)
        return result

    def result(self, step: str) -> StepResult:
        return self.done[step].result

    def case_of(self, step: str) -> uuid.UUID:
        case_id = self.result(step).case_id
        if case_id is None:
            raise ScenarioError(f"step '{step}' has no case")
        return case_id

    def party_of(self, step: str) -> uuid.UUID:
        party_id = self.result(step).party_id
        if party_id is None:
            raise ScenarioError(f"step '{step}' has no party")
        return party_id

    def message_ids(self, steps: list[str]) -> dict[str, str]:
        return {s: str(self.result(s).message_id) for s in steps}

    def ext(self, step: Step, ref: str | None = None) -> str:
        """A channel's own id (submission, call, conversation): unique per run."""
        return f"{self.run}-{ref or step.name}"

    @staticmethod
    def now() -> datetime:
        # The channel's own moment (form submitted, call started) is now: the history's
        # order is then also the script's order.
        return datetime.now(UTC)

    def fill(self, text: str | None) -> str | None:
        """``{actor.field}`` and ``{step.case_number}`` replaced by this run's values."""
        if text is None:
            return None

        def one(m: re.Match[str]) -> str:
            ref, attr = m.group(1), m.group(2)
            if ref in self.scenario.actors:
                return str(self.actor_value(ref, attr))
            number = self.result(ref).case_number
            if number is None:
                raise ScenarioError(f"'{{{ref}.{attr}}}': step '{ref}' has no case")
            return number

        return TEMPLATE.sub(one, text)

    def actor_value(self, name: str, attr: str) -> str | None:
        actor = self.scenario.actors[name]
        value: str | None = getattr(actor, attr, None)
        if value is None or attr == "name":
            return value
        return self.ids.get(attr, value)

    def identifiers(
        self, actor: Person | Business, chosen: Sequence[str] | None, login: str
    ) -> dict[str, str]:
        """The actor's fresh identifiers a message carries: ``chosen``, or by default what
        the login proves plus e-mail and phone."""
        default = [*LOGIN_IDENTIFIERS.get(login, []), "email", "phone"]
        out: dict[str, str] = {}
        for kind in chosen if chosen is not None else default:
            stand_in = getattr(actor, kind, None)
            if stand_in is not None:
                out[kind] = self.ids.get(kind, stand_in)
        return out
