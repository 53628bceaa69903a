"""Security: need-to-know, no BSN oracle, and an access-log entry for every read.

Builds on tests/integration/caseview/test_caseview_access.py (which checks each rule
once); here every read endpoint is swept with the same tokens and every response body
is searched for what it must not contain.

- Team B's token (roles member and kcc) reads every endpoint that can show team A's
  confidential case, by party, case, contact and search: the case's secret text,
  note and product never appear. Team A's own token sees them (the control that
  makes the sweep able to fail).
- Callers without a reading role (auditor, no roles, an unknown role, no token) get
  byte-identical answers for a BSN that exists and one that does not, for a party
  that exists and one that does not.
- The access log has one entry per read the test made (user, endpoint, party or case,
  outcome), counted from the test's own list of requests.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest

from shared.contracts import Channel, NoteAdded
from tests.conftest import Topics
from tests.integration.caseview.conftest import (
    STAFF,
    Party,
    producer,
    running,
    send,
    settings_for,
    team_name,
    token,
)
from tests.integration.test_router import bsn
from tests.reliability.inproc import record_history

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
__all__ = ["producer"]  # the fixture


async def test_need_to_know_no_bsn_oracle_and_every_read_logged(
    kafka_bootstrap: str, pg_urls: dict[str, str], topics: Topics, producer: Any
) -> None:
    team_a, team_b = team_name(), team_name()
    secret = f"geheim-{uuid.uuid4().hex}"
    product = f"Bijstand-{uuid.uuid4().hex[:6]}"
    number_known, number_unknown = bsn(), bsn()
    p = Party()
    created = p.created(f"Naam {uuid.uuid4().hex[:6]}", ("bsn", number_known, "authenticated"))
    case_id, case_no, opened = p.case(product, team_a, confidential=True)
    contact = p.message(case_id, case_no, Channel.EMAIL, f"tekst {secret}", owner=team_a)
    note = p.event(
        NoteAdded(
            note_id=uuid.uuid4(),
            case_id=case_id,
            party_id=p.id,
            text=f"notitie {secret}",
            by=STAFF,
            at=p.at(),
        )
    )
    events = [created, opened, contact, note]
    await send(producer, topics.timeline, *events)
    message_id = contact.data["message_id"]

    users = {
        "a": (f"sec-a-{uuid.uuid4().hex[:6]}", [team_a], ["member"]),
        "b": (f"sec-b-{uuid.uuid4().hex[:6]}", [team_b], ["member", "kcc"]),
        "auditor": (f"sec-aud-{uuid.uuid4().hex[:6]}", ["audit"], ["auditor"]),
        "none": (f"sec-none-{uuid.uuid4().hex[:6]}", [team_b], []),
        "guest": (f"sec-guest-{uuid.uuid4().hex[:6]}", [team_b], ["guest"]),
    }
    headers = {k: token(u, teams=t, roles=r) for k, (u, t, r) in users.items()}
    reads: list[dict[str, Any]] = []  # what the test did, to count against the access log

    async with running(settings_for(pg_urls["caseview"], kafka_bootstrap, topics)) as cv:
        await cv.projected(*events)
        http = cv.client

        async def read(who: str, method: str, url: str, endpoint: str, **kw: Any) -> Any:
            r = await http.request(method, url, headers=headers[who], **kw)
            assert r.status_code < 500, (url, r.status_code, r.text)
            reads.append({"user": users[who][0], "endpoint": endpoint, "status": r.status_code})
            return r

        sweep = [
            ("GET", f"/v1/parties/{p.id}", "GET /v1/parties/{party_id}", {}),
            ("GET", f"/v1/parties/{p.id}/timeline", "GET /v1/parties/{party_id}/timeline", {}),
            ("GET", f"/v1/cases/{case_id}", "GET /v1/cases/{case_id}", {}),
            ("GET", f"/v1/cases/{case_id}/timeline", "GET /v1/cases/{case_id}/timeline", {}),
            ("GET", f"/v1/contacts/{message_id}", "GET /v1/contacts/{message_id}", {}),
            (
                "POST",
                "/v1/parties/search",
                "POST /v1/parties/search",
                {"json": {"by": "bsn", "value": number_known}},
            ),
            (
                "POST",
                "/v1/parties/search",
                "POST /v1/parties/search",
                {"json": {"by": "case_number", "value": case_no}},
            ),
        ]
        bodies: dict[str, list[str]] = {"a": [], "b": []}
        for who in ("b", "a"):
            for method, url, endpoint, kw in sweep:
                r = await read(who, method, url, endpoint, **kw)
                assert r.status_code == 200, (who, url, r.text)
                bodies[who].append(r.text)
        leaked = [b for b in bodies["b"] if secret in b or product in b]
        assert not leaked, "team B saw team A's confidential contents"
        assert sum(secret in b for b in bodies["a"]) >= 3, "control: team A sees its case"
        assert any(product in b for b in bodies["a"])
        # Team B's own queue does not list A's case; A's queue is closed to B.
        r = await http.get(f"/v1/teams/{team_b}/queue", headers=headers["b"])
        reads.append(
            {"user": users["b"][0], "endpoint": "GET /v1/teams/{team}/queue", "status": 200}
        )
        assert r.status_code == 200 and str(case_id) not in r.text
        r = await http.get(f"/v1/teams/{team_a}/queue", headers=headers["b"])
        assert r.status_code == 403

        # No oracle: without a reading role, a known and an unknown BSN answer the same,
        # byte for byte; a known and an unknown party the same but for the URL echoed.
        oracle: dict[str, tuple[int, int]] = {}
        callers: tuple[str | None, ...] = ("auditor", "none", "guest", None)
        for caller in callers:
            h = headers[caller] if caller is not None else {}
            answers = []
            for value in (number_known, number_unknown):
                r = await http.post(
                    "/v1/parties/search", json={"by": "bsn", "value": value}, headers=h
                )
                answers.append((r.status_code, r.content))
            assert answers[0] == answers[1], caller
            assert answers[0][0] in (401, 403), caller
            parties = []
            for party in (p.id, uuid.uuid4()):
                r = await http.get(f"/v1/parties/{party}", headers=h)
                body = r.json()
                assert body.pop("instance", "").endswith(str(party))  # the URL asked for
                parties.append((r.status_code, body))
                if caller is not None:
                    reads.append(
                        {
                            "user": users[caller][0],
                            "endpoint": "GET /v1/parties/{party_id}",
                            "status": r.status_code,
                        }
                    )
            assert parties[0] == parties[1], caller
            oracle[str(caller)] = (answers[0][0], parties[0][0])

        # An auditor reads the log (its own reads are logged too).
        await read("auditor", "GET", "/v1/access-log", "GET /v1/access-log")
        # The check, by a second auditor after every counted read.
        checker = token(f"sec-check-{uuid.uuid4().hex[:6]}", teams=["audit"], roles=["auditor"])
        logged: Counter[tuple[str, str, str]] = Counter()
        for who in users:
            r = await http.get(
                "/v1/access-log", params={"user": users[who][0], "limit": 200}, headers=checker
            )
            assert r.status_code == 200, r.text
            for e in r.json()["items"]:
                logged[(e["user"], e["endpoint"], e["outcome"])] += 1

    outcome = {200: "ok", 403: "denied", 404: "not-found"}
    expected: Counter[tuple[str, str, str]] = Counter(
        (r["user"], r["endpoint"], outcome[r["status"]]) for r in reads
    )
    missing = expected - logged
    extra = logged - expected
    record_history(
        "security",
        {
            "reads": len(reads),
            "logged": sum(logged.values()),
            "missing_from_log": [list(k) for k in missing.elements()],
            "logged_but_not_read": [list(k) for k in extra.elements()],
            "oracle_answers": oracle,
            "bodies_checked_for_team_b": len(bodies["b"]),
        },
    )
    assert not missing, f"reads without an access-log entry: {sorted(missing)}"
    assert not extra, f"access-log entries for reads that did not happen: {sorted(extra)}"
