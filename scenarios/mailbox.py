"""The residents' inbox of a scenario: Mailpit's REST API (``deploy/local/mailpit.sh``), where
the outbound service's e-mail arrives. The runner reads a reply's mail there, as the resident's
mail program would, to answer it. Mailpit may hold other runs' mail: a mail is found by its
Message-ID only, never by listing or deleting everything."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from scenarios.results import ScenarioError


@dataclass(frozen=True)
class ArrivedMail:
    """What a mail program shows of a received mail, and needs to answer it."""

    message_id: str  # without angle brackets
    subject: str
    reply_to: str | None
    references: str | None
    headers: dict[str, list[str]]  # names lower-cased


class Mailbox:
    def __init__(self, url: str, http: httpx.Client) -> None:
        self.url = url.rstrip("/")
        self.http = http

    def _get(self, path: str, **params: str) -> Any:
        r = self.http.get(f"{self.url}{path}", params=params or None)
        if r.status_code != 200:
            raise ScenarioError(f"Mailpit GET {path}: {r.status_code} {r.text[:200]}")
        return r.json()

    def find(self, message_id: str) -> ArrivedMail | None:
        """The mail with this Message-ID, or None while it has not arrived."""
        bare = message_id.strip().removeprefix("<").removesuffix(">")
        hits = self._get("/api/v1/search", query=f'message-id:"{bare}"')["messages"]
        if not hits:
            return None
        raw_headers = self._get(f"/api/v1/message/{hits[0]['ID']}/headers")
        headers = {name.lower(): values for name, values in raw_headers.items()}

        def one(name: str) -> str | None:
            values = headers.get(name)
            return str(values[0]) if values else None

        return ArrivedMail(
            message_id=bare,
            subject=one("subject") or "",
            reply_to=one("reply-to"),
            references=one("references"),
            headers=headers,
        )
