"""Expectations of a scenario, checked against caseview: where a message landed, what became
of a staff action, and the checks of a case, a party or a team's view at a moment."""

from __future__ import annotations

import uuid
from typing import Any

from scenarios.caseview import Caseview, token
from scenarios.model import ActionExpect, Check, MessageExpect
from scenarios.play import Play
from scenarios.results import Outcome, StepResult, Verdict, outcome


def expect_message(play: Play, cv: Caseview, name: str, r: StepResult, e: MessageExpect) -> Outcome:
    """Where a message landed, against one expectation group of its step."""
    checks: list[Verdict] = []

    def ref(step: str) -> StepResult:
        return play.result(step)

    if e.new_case is not None:
        new = r.case_rule == "new-case"
        checks.append((f"new case: {e.new_case}", new == e.new_case, f"rule {r.case_rule}"))
    if e.case:
        other = ref(e.case)
        checks.append(
            (
                f"joins the case of '{e.case}'",
                r.case_id == other.case_id,
                f"landed in {r.case_number}, '{e.case}' is {other.case_number}",
            )
        )
    if e.not_case:
        other = ref(e.not_case)
        checks.append(
            (f"not in the case of '{e.not_case}'", r.case_id != other.case_id, "same case")
        )
    if e.party or e.not_party:
        assert r.party_id is not None
        mine = cv.root(r.party_id)
        for target, same in ((e.party, True), (e.not_party, False)):
            if target:
                other_id = ref(target).party_id
                assert other_id is not None
                equal = mine == cv.root(other_id)
                label = ("same party as" if same else "not the party of") + f" '{target}'"
                checks.append((label, equal == same, "same" if equal else "different"))
    if e.owner:
        checks.append((f"owner {e.owner}", r.owner == e.owner, f"owner {r.owner}"))
    if e.case_rule:
        checks.append(
            (f"case rule {e.case_rule}", r.case_rule == e.case_rule, f"rule {r.case_rule}")
        )
    if e.flags is not None:
        checks.append((f"flags {e.flags}", sorted(r.flags) == sorted(e.flags), f"flags {r.flags}"))
    if e.provisional is not None or e.suggests_link_to or e.no_link_suggestion:
        assert r.party_id is not None
        party = cv.party(r.party_id)
        if e.provisional is not None:
            checks.append(
                (
                    f"provisional party: {e.provisional}",
                    party["provisional"] == e.provisional,
                    f"provisional {party['provisional']}",
                )
            )
        outgoing = [s for s in party["suggested_links"] if s["direction"] == "outgoing"]
        mine_msg = [s for s in outgoing if s["message_id"] == str(r.message_id)]
        if e.suggests_link_to:
            target_id = ref(e.suggests_link_to).party_id
            assert target_id is not None
            members = set(cv.party(target_id)["members"])
            hit = [s for s in mine_msg if s["suggested_party_id"] in members]
            kinds = sorted({str(s["identifier_kind"]) for s in mine_msg})
            checks.append(
                (
                    f"suggested link to the party of '{e.suggests_link_to}'",
                    bool(hit),
                    f"suggestions made by this message: {len(mine_msg)} (on {kinds})",
                )
            )
        if e.no_link_suggestion:
            checks.append(
                (
                    "no suggested link",
                    not mine_msg,
                    f"{len(mine_msg)} suggestion(s) made by this message",
                )
            )
    return outcome(name, e.gap, checks)


def expect_action(name: str, r: StepResult, e: ActionExpect) -> Outcome:
    """What became of a staff action, against one expectation group of its step."""
    checks: list[Verdict] = []
    if e.refused is not None:
        checks.append((f"refused with {e.refused}", r.refused == e.refused, f"{r.refused}"))
    if e.rejected is not None:
        got = r.rejected or ""
        checks.append(
            (
                f"rejected ('{e.rejected}')",
                e.rejected.lower() in got.lower(),
                f"rejected: {got or 'no'}",
            )
        )
    if e.refused is None and e.rejected is None:
        checks.append(
            ("accepted", r.refused is None and r.rejected is None, f"refused {r.refused}")
        )
    return outcome(name, e.gap, checks)


def check(play: Play, cv: Caseview, name: str, c: Check) -> Outcome:
    """A check step's group: about a case, a party or a team's view, at this moment."""
    checks: list[Verdict] = []
    if c.case:
        checks += _check_case(play, cv, c)
    elif c.party:
        checks += _check_party(play, cv, c)
    else:
        checks += _check_team(play, cv, c)
    group = outcome(name, c.gap, checks)
    if c.say:
        group.label = f"{c.say} — {group.label}"
    return group


def _is(label: str, got: Any, want: Any, shown: str = "{}") -> Verdict:
    """``got == want``, with what was found shown by the ``shown`` format."""
    return (label, got == want, shown.format(got))


def _held(
    play: Play, held: set[str], include: list[str] | None, exclude: list[str] | None, what: str
) -> list[Verdict]:
    """The messages of ``include`` are among the ``held`` message ids, those of ``exclude``
    not; ``what`` reads 'holds …'/'lacks …' with the step for ``{}``."""
    out: list[Verdict] = []
    for step, mid in play.message_ids(include or []).items():
        out.append((what.format("holds", step), mid in held, "missing"))
    for step, mid in play.message_ids(exclude or []).items():
        out.append((what.format("lacks", step), mid not in held, "present"))
    return out


def _check_case(play: Play, cv: Caseview, c: Check) -> list[Verdict]:
    assert c.case is not None
    case = cv.case(play.case_of(c.case))
    label = f"case of '{c.case}'"
    out: list[Verdict] = []
    if c.owner:
        out.append(_is(f"{label} owned by {c.owner}", case["owner_team"], c.owner, "owner {}"))
    if c.participants is not None:
        want = sorted(c.participants)
        team_list = sorted(case["participants"])
        out.append(_is(f"{label} participants {want}", team_list, want, "participants {}"))
    if c.status:
        out.append(_is(f"{label} status '{c.status}'", case["status"], c.status, "status {!r}"))
    if c.result:
        result = case["result"] or ""
        out.append((f"{label} result", c.result in result, f"result {result!r}"))
    if c.handover_count is not None:
        count = c.handover_count
        out.append(
            _is(f"{label} handover count {count}", case["handover_count"], count, "count {}")
        )
    if c.handovers is not None:
        chain = [_chain(h) for h in c.handovers]
        found = [f"{h['from_team']} -> {h['to_team']}" for h in case["handovers"]]
        out.append(_is(f"{label} handovers {chain}", found, chain, "handovers {}"))
    if c.confidential is not None:
        secret = c.confidential
        out.append(_is(f"{label} confidential: {secret}", case["confidential"], secret))
    contacts = {x["message_id"] for x in case["contacts"]}
    out += _held(play, contacts, c.contacts_include, c.contacts_exclude, label + " {} contact '{}'")
    return out


def _check_party(play: Play, cv: Caseview, c: Check) -> list[Verdict]:
    assert c.party is not None
    party_id = play.party_of(c.party)
    party = cv.party(party_id)
    label = f"party of '{c.party}'"
    out: list[Verdict] = []
    if c.history_includes or c.history_excludes:
        history = {e["message_id"] for e in cv.timeline(party_id)}
        what = label + ": history {} '{}'"
        out += _held(play, history, c.history_includes, c.history_excludes, what)
    if c.open_cases is not None:
        got = [x["number"] for x in party["open_cases"]]
        out.append(
            (f"{label}: {c.open_cases} open case(s)", len(got) == c.open_cases, f"open {got}")
        )
    if c.cases is not None:
        got = [x["number"] for x in party["open_cases"] + party["closed_cases"]]
        out.append((f"{label}: {c.cases} case(s) in all", len(got) == c.cases, f"{got}"))
    if c.provisional is not None:
        provisional = c.provisional
        out.append(_is(f"{label}: provisional {provisional}", party["provisional"], provisional))
    if c.pending_suggestions is not None:
        pending = len(party["suggested_links"])
        wanted = c.pending_suggestions
        out.append(_is(f"{label}: {wanted} suggestion(s) pending", pending, wanted, "{} pending"))
    return out


def _check_team(play: Play, cv: Caseview, c: Check) -> list[Verdict]:
    assert c.team is not None
    headers = token(f"{c.team}-viewer-{play.run}", [c.team], "member")
    out: list[Verdict] = []
    for steps, want in ((c.sees or [], True), (c.does_not_see or [], False)):
        for step in steps:
            seen = _team_sees(play, cv, headers, step)
            verb = "sees" if want else "does not see"
            got = "sees it" if seen else "sees only that a contact happened"
            out.append((f"{c.team} {verb} the text of '{step}'", seen == want, got))
    if c.queue_includes or c.queue_excludes:
        # The whole queue: a database kept between runs holds earlier runs' cases too.
        ids = {x["id"] for x in cv.all(f"/v1/teams/{c.team}/queue", headers)}
        for step in c.queue_includes or []:
            case_id = str(play.case_of(step))
            out.append((f"{c.team}'s queue holds the case of '{step}'", case_id in ids, "no"))
        for step in c.queue_excludes or []:
            case_id = str(play.case_of(step))
            out.append((f"{c.team}'s queue lacks the case of '{step}'", case_id not in ids, ""))
    return out


def _team_sees(play: Play, cv: Caseview, headers: dict[str, str], step: str) -> bool:
    r = play.result(step)
    assert r.case_id is not None
    assert r.message_id is not None
    # Where the contact is now: a confirmed link may have folded its case into another.
    located = cv.locate(r.message_id)
    case_id = uuid.UUID(located["case_id"]) if located and located.get("case_id") else r.case_id
    case = cv.case(case_id, headers)
    contact = next(x for x in case["contacts"] if x["message_id"] == str(r.message_id))
    return contact["text"] is not None


def _chain(text: str) -> str:
    a, _, b = text.partition("->")
    return f"{a.strip()} -> {b.strip()}"
