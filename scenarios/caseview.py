"""Reading caseview for a scenario: its API with a token per team and role, paginated lists
followed to the end, and waiting by polling with a deadline (nothing sleeps a fixed time)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from scenarios.results import ScenarioError
from services.caseview.auth import mint_token

T = TypeVar("T")
POLL_SECONDS = 0.05


def token(user: str, teams: list[str], role: str) -> dict[str, str]:
    """The headers of a staff member of ``teams`` with ``role``."""
    return {"Authorization": f"Bearer {mint_token(user, teams=teams, roles=[role])}"}


class Caseview:
    def __init__(self, url: str, http: httpx.Client, *, teams: list[str], timeout: float) -> None:
        self.url = url.rstrip("/")
        self.http = http
        self.timeout = timeout
        # The referee reads everything (every team, so nothing is redacted for it); what a
        # team may see is checked with that team's own token.
        self.referee = token("scenario-referee", teams, "kcc")
        self.purpose = "Scenario"

    def eventually(self, probe: Callable[[], T | None], what: str) -> T:
        deadline = time.monotonic() + self.timeout
        while True:
            value = probe()
            if value is not None:
                return value
            if time.monotonic() > deadline:
                raise ScenarioError(f"{what}: not within {self.timeout:.0f}s")
            time.sleep(POLL_SECONDS)

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        r = self.http.get(
            f"{self.url}{path}",
            headers={**(headers or self.referee), "X-Purpose": self.purpose},
            params=params or None,
        )
        if r.status_code != 200:
            raise ScenarioError(f"GET {path}: {r.status_code} {r.text[:300]}")
        return r.json()

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        return self.http.post(f"{self.url}{path}", json=body, headers=headers)

    def case(self, case_id: uuid.UUID, headers: dict[str, str] | None = None) -> Any:
        return self.get(f"/v1/cases/{case_id}", headers)

    def party(self, party_id: uuid.UUID) -> Any:
        return self.get(f"/v1/parties/{party_id}")

    def root(self, party_id: uuid.UUID) -> uuid.UUID:
        """The party a party was merged into (itself when it was not)."""
        return uuid.UUID(self.party(party_id)["party_id"])

    def timeline(self, party_id: uuid.UUID, *types: str) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"type": list(types)} if types else {}
        return self.all(f"/v1/parties/{party_id}/timeline", None, **params)

    def all(self, path: str, headers: dict[str, str] | None, **params: Any) -> list[Any]:
        """Every item of a keyset-paginated list, page after page."""
        items: list[Any] = []
        params["limit"] = 200
        while True:
            page = self.get(path, headers, **params)
            items += page["items"]
            if not page["next_cursor"]:
                return items
            params["cursor"] = page["next_cursor"]

    def locate(self, message_id: uuid.UUID) -> Any:
        """Where a contact is now (party, case), or None while caseview has not seen it."""
        r = self.http.get(
            f"{self.url}/v1/contacts/{message_id}",
            headers={**self.referee, "X-Purpose": self.purpose},
        )
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise ScenarioError(f"locating {message_id}: {r.status_code} {r.text[:200]}")
        return r.json()
