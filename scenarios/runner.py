"""Play a scenario against running services: messages through ingest's real routes (e-mail
also through the SMTP receiver), staff actions through caseview's API with a token per
team and role, expectations checked against caseview. Everything waits by polling with a
deadline; nothing sleeps a fixed time.

The runner needs only URLs (and the SMTP address; Mailpit's for scenarios that answer a
reply): the demo passes its local stack, the end-to-end tests theirs. It returns a
``ScenarioReport``; ``report.py`` prints it. The parts: ``send.py`` (messages, on ingest's
request models), ``staff.py`` (staff actions), ``replies.py`` (a reply and the resident's
answer to its mail), ``check.py`` (expectations), ``overview.py`` (the parties and cases
afterwards).
"""

from __future__ import annotations

import smtplib
import time
import uuid
from typing import Any

import httpx

from scenarios import check, replies, staff
from scenarios.caseview import Caseview
from scenarios.mailbox import Mailbox
from scenarios.model import Business, Person, Scenario, Step
from scenarios.overview import overview
from scenarios.play import Play
from scenarios.results import ScenarioError, ScenarioReport, StepResult
from scenarios.send import Ingest
from scenarios.stack import routing_teams

__all__ = ["Runner"]


class Runner:
    def __init__(
        self,
        *,
        ingest: str,
        caseview: str,
        smtp: tuple[str, int],
        mailpit: str | None = None,
        teams: list[str] | None = None,
        timeout: float = 60.0,
        http: httpx.Client | None = None,
    ) -> None:
        self.http = http or httpx.Client(timeout=15)
        self.ingest = Ingest(ingest, self.http, smtp)
        # Where the outbound service's e-mail arrives (Mailpit's HTTP address): answers read it.
        self.mailbox = Mailbox(mailpit, self.http) if mailpit else None
        self.caseview = Caseview(
            caseview, self.http, teams=teams or routing_teams(), timeout=timeout
        )

    def play(self, scenario: Scenario) -> ScenarioReport:
        play = Play(scenario)
        cv = self.caseview
        cv.purpose = play.purpose
        report = play.report
        started = time.monotonic()
        try:
            for step in scenario.steps:
                t0 = time.monotonic()
                result = play.start(step)
                if step.brings_message:
                    self._message(play, step, result)
                elif step.is_action:
                    staff.act(play, cv, step, result)
                    if step.reply is not None and result.reply_id is not None:
                        replies.wait_sent(play, cv, step, result)
                    for group in step.action_expectations:
                        report.outcomes.append(check.expect_action(step.name, result, group))
                else:
                    for c in step.check or []:
                        report.outcomes.append(check.check(play, cv, step.name, c))
                result.seconds = time.monotonic() - t0
        except (ScenarioError, httpx.HTTPError, smtplib.SMTPException, OSError) as exc:
            report.aborted = f"step '{step.name}': {exc}"
        try:
            overview(play, cv)
        except (ScenarioError, httpx.HTTPError) as exc:
            report.aborted = report.aborted or f"overview: {exc}"
        report.seconds = time.monotonic() - started
        return report

    def _message(self, play: Play, step: Step, result: StepResult) -> None:
        """Send the message, wait until caseview shows where it landed, check that."""
        assert step.actor is not None
        actor = play.scenario.actors[step.actor]
        assert isinstance(actor, Person | Business)
        cv = self.caseview
        if step.answer is not None:
            sent = replies.answer(play, cv, step, actor, self.ingest, self.mailbox)
        else:
            sent = self.ingest.send(play, step, actor)
        message_id, result.transport = sent
        result.message_id = message_id
        where = cv.eventually(
            lambda: cv.locate(message_id), f"message '{step.name}' in the history"
        )
        result.party_id = uuid.UUID(where["party_id"])
        result.case_id = uuid.UUID(where["case_id"])
        case = cv.case(result.case_id)
        result.case_number = case["number"]
        result.owner = case["owner_team"]
        explanation: dict[str, Any] = next(
            (e for e in case["routing_explanations"] if e["message_id"] == str(message_id)), {}
        )
        result.case_rule = explanation.get("explanation", {}).get("case_rule")
        result.flags = [f["kind"] for f in explanation.get("flags", [])]
        for group in step.message_expectations:
            play.report.outcomes.append(check.expect_message(play, cv, step.name, result, group))
