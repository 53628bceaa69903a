"""The console names every team of the routing file and every rule the router explains a
decision with in Dutch (a missing label shows a raw id such as `open-case-candidate`)."""

from __future__ import annotations

import re
from pathlib import Path

from services.router.routing.rules import DEFAULT_FILE, load_routing

ROOT = Path(__file__).resolve().parents[2]
LABELS = (ROOT / "services/caseview/console/static/js/labels.js").read_text(encoding="utf-8")
ROUTER = "".join(
    (ROOT / "services/router" / f).read_text(encoding="utf-8")
    for f in ("domain/model.py", "route.py")
)


def _keys(name: str) -> set[str]:
    body = re.search(rf"export const {name} = \{{(.*?)\n\}};", LABELS, re.S)
    assert body, name
    return set(re.findall(r"^\s+'?([a-z][a-z -]*?)'?:", body.group(1), re.M))


def test_every_team_of_the_routing_file_has_a_label() -> None:
    assert set(load_routing(DEFAULT_FILE).teams) <= _keys("TEAMS")


def test_every_case_and_owner_rule_the_router_uses_has_a_label() -> None:
    case_rules = set(re.findall(r'"(case-number|thread|new-case|open-case-[a-z-]+)"', ROUTER))
    owner_rules = set(re.findall(r'"([a-z]+-owner)"', ROUTER)) | {"product"}
    assert {"open-case-candidate", "new-case"} <= case_rules  # the scan still finds them
    assert case_rules <= _keys("CASE_RULES")
    assert owner_rules <= _keys("OWNER_RULES")
