"""Staff actions of a scenario through caseview's API (handover, participants, note,
status, close, outbound contact, a link decision, a reply), each with a token for the acting staff
member's team and role; then waiting for the router's outcome on the party's history."""

from __future__ import annotations

import uuid
from typing import Any

from scenarios import replies
from scenarios.caseview import Caseview, token
from scenarios.model import DecideLink, Reply, Staff, Step
from scenarios.play import Play
from scenarios.results import ScenarioError, StepResult

REJECTED = "nl.eenloket.command.rejected"
OUTCOME_EVENT = {
    "handover": "nl.eenloket.case.handed-over",
    "add_participant": "nl.eenloket.case.participant-added",
    "remove_participant": "nl.eenloket.case.participant-removed",
    "note": "nl.eenloket.case.note-added",
    "status": "nl.eenloket.case.status-changed",
    "close": "nl.eenloket.case.closed",
    "outbound": "nl.eenloket.contact.outbound-registered",
    "decide_link": "nl.eenloket.party.link-decided",
    "reply": "nl.eenloket.reply.requested",
}
ROUTE = {
    "handover": "handovers",
    "add_participant": "participants",
    "remove_participant": "participant-removals",
    "note": "notes",
    "status": "status",
    "close": "close",
    "outbound": "outbound-contacts",
    "reply": "replies",
}


def act(play: Play, cv: Caseview, step: Step, result: StepResult) -> None:
    """Do the step's action and wait for its outcome (done, or rejected by the router). A
    refusal or rejection the step does not expect aborts the scenario."""
    assert step.actor is not None
    staff = play.scenario.actors[step.actor]
    assert isinstance(staff, Staff)
    headers = token(f"{step.actor}-{play.run}", [staff.team], staff.role)
    result.transport = "caseview"
    action = step.action
    if isinstance(action, DecideLink):
        path, body, party_id, case_id = _decide_link_request(play, cv, action)
    else:
        case_id = play.case_of(action.case)
        party_id = uuid.UUID(cv.case(case_id)["party_id"])
        path = f"/v1/cases/{case_id}/{ROUTE[step.kind]}"
        if isinstance(action, Reply):
            body = replies.request_body(play, cv, action)
        else:
            body = action_body(play, step)
    result.case_id = case_id
    if case_id is not None:
        result.case_number = cv.case(case_id)["number"]
    wanted = OUTCOME_EVENT[step.kind]
    before = {e["event_id"] for e in cv.timeline(party_id, wanted, REJECTED)}
    r = cv.post(path, body, {**headers, "Idempotency-Key": play.ext(step)})
    expects = step.action_expectations
    if r.status_code != 202:
        result.refused = r.status_code
        if not any(e.refused == r.status_code for e in expects):
            raise ScenarioError(f"POST {path}: {r.status_code} {r.text[:300]}")
    else:
        command_id = r.json()["command_id"]
        if isinstance(action, Reply):
            result.reply_id = uuid.UUID(r.json()["reply_id"])

        def outcome() -> dict[str, Any] | None:
            for e in cv.timeline(party_id, wanted, REJECTED):
                if e["event_id"] in before:
                    continue
                if e["type"] == REJECTED and e["data"].get("command_id") == command_id:
                    return e
                if e["type"] == wanted and (case_id is None or e["case_id"] == str(case_id)):
                    return e
            return None

        event = cv.eventually(outcome, f"outcome of '{step.name}'")
        if event["type"] == REJECTED:
            result.rejected = str(event["data"].get("reason"))
            if not any(e.rejected is not None for e in expects):
                raise ScenarioError(f"'{step.name}' rejected by the router: {result.rejected}")
        elif isinstance(action, DecideLink) and action.confirm:
            root = cv.root(play.party_of(action.known))
            cv.eventually(
                lambda: True if cv.root(party_id) == root else None,
                f"merge after '{step.name}'",
            )
    if case_id is not None:
        result.owner = cv.case(case_id)["owner_team"]


def action_body(play: Play, step: Step) -> dict[str, Any]:
    """The request body of a case action (caseview's commands)."""
    a = step.action
    match step.kind:
        case "handover":
            return {"to_team": a.to, "reason": play.fill(a.reason)}
        case "add_participant" | "remove_participant":
            body = {"team": a.team}
            return body | ({"reason": play.fill(a.reason)} if a.reason else {})
        case "note":
            return {"text": play.fill(a.text)}
        case "status":
            return {"status": str(a.status)}
        case "close":
            return {"result": play.fill(a.result)}
        case "outbound":
            return {"channel": a.channel, "summary": play.fill(a.summary)}
    raise AssertionError(step.kind)


def _decide_link_request(
    play: Play, cv: Caseview, action: DecideLink
) -> tuple[str, dict[str, Any], uuid.UUID, uuid.UUID | None]:
    """The pending suggestion between the two steps' parties, and the decision on it."""
    sender = play.party_of(action.sender)
    known_members = set(cv.party(play.party_of(action.known))["members"])
    suggestions = cv.party(sender)["suggested_links"]
    match = [
        s
        for s in suggestions
        if s["direction"] == "outgoing" and s["suggested_party_id"] in known_members
    ]
    if not match:
        raise ScenarioError(f"no pending suggestion links '{action.sender}' to '{action.known}'")
    body: dict[str, Any] = {"confirm": action.confirm, "verify_address": action.verify_address}
    if action.reason:
        body["reason"] = play.fill(action.reason)
    path = f"/v1/link-suggestions/{match[0]['suggestion_id']}/decision"
    return path, body, sender, None
