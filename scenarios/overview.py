"""After a scenario: each party it touched (after merges) with its unified history and
cases, what every involved team may see of each case, and the ownership invariant."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from scenarios.caseview import Caseview, token
from scenarios.model import Staff
from scenarios.play import Play
from scenarios.results import CaseOverview, Outcome, PartyOverview


def overview(play: Play, cv: Caseview) -> None:
    report = play.report
    sc = play.scenario
    teams = sorted(
        {a.team for a in sc.actors.values() if isinstance(a, Staff)} | set(sc.observe_teams)
    )
    report.teams = teams
    viewers = {t: token(f"{t}-viewer-{report.run}", [t], "member") for t in teams}
    roots: dict[uuid.UUID, list[str]] = {}
    for done in play.done.values():
        if done.step.brings_message and done.result.party_id is not None:
            root = cv.root(done.result.party_id)
            label = done.step.actor or "?"
            if label not in roots.setdefault(root, []):
                roots[root].append(label)
    for root, labels in roots.items():
        party = cv.party(root)
        cases = []
        for summary in party["open_cases"] + party["closed_cases"]:
            case = cv.case(uuid.UUID(summary["id"]))
            visibility = {}
            for team, headers in viewers.items():
                seen = cv.case(uuid.UUID(summary["id"]), headers)
                visibility[team] = not seen["redacted"]
            cases.append(
                CaseOverview(
                    id=uuid.UUID(case["id"]),
                    number=case["number"],
                    product=case["product"],
                    status=case["status"],
                    owner=case["owner_team"],
                    participants=case["participants"],
                    handovers=case["handovers"],
                    handover_count=case["handover_count"],
                    confidential=case["confidential"],
                    result=case["result"],
                    contacts=case["contacts_total"]["value"],
                    visibility=visibility,
                )
            )
            report.outcomes.append(invariants(case))
        report.parties.append(
            PartyOverview(
                party_id=root,
                label=", ".join(labels),
                display_name=party["display_name"],
                provisional=party["provisional"],
                members=len(party["members"]),
                timeline=list(reversed(cv.timeline(root))),
                cases=sorted(cases, key=lambda x: x.number),
                pending_suggestions=len(party["suggested_links"]),
            )
        )


def invariants(case: dict[str, Any]) -> Outcome:
    """Lesson 4, always: one owner at every moment, each handover explicit and counted."""
    chain = case["handovers"]
    ok = case["handover_count"] == len(chain) and all(
        a["to_team"] == b["from_team"] for a, b in itertools.pairwise(chain)
    )
    if chain:
        ok = ok and chain[-1]["to_team"] == case["owner_team"] and all(h["reason"] for h in chain)
    return Outcome(
        step="(invariant)",
        label=f"{case['number']}: one owner at every moment, explicit handovers",
        ok=ok,
        detail=f"owner {case['owner_team']}, count {case['handover_count']}, "
        f"chain {[(h['from_team'], h['to_team']) for h in chain]}",
    )
