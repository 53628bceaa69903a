"""Play a scenario against running services: messages through ingest's real routes (e-mail
also through the SMTP receiver), staff actions through caseview's API with a token per
team and role, expectations checked against caseview. Everything waits by polling with a
deadline; nothing sleeps a fixed time.

The runner needs only URLs (and the SMTP address): the demo passes its local stack, the
end-to-end tests theirs. It returns a ``ScenarioReport``; ``report.py`` prints it.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import secrets
import smtplib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any, TypeVar

import httpx
import phonenumbers
import yaml

from scenarios.model import (
    TEMPLATE,
    AttachmentSpec,
    Business,
    Check,
    DecideLink,
    MessageExpect,
    Person,
    Scenario,
    Staff,
    Step,
)
from services.caseview.auth import mint_token

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
ROUTING_FILE = ROOT / "services" / "router" / "routing" / "default.yaml"
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
}
ROUTE = {
    "handover": "handovers",
    "add_participant": "participants",
    "remove_participant": "participant-removals",
    "note": "notes",
    "status": "status",
    "close": "close",
    "outbound": "outbound-contacts",
}

# --- the stack's configuration for scenarios ---------------------------------------------

# One integration per channel, as in a municipality: DEV-ONLY keys (the demo and the tests
# run ingest with EENLOKET_ALLOW_ANONYMOUS=false, so every request shows its key).
INTEGRATIONS: dict[str, tuple[str, bool]] = {
    "web": ("portal", True),
    "app": ("app-backend", True),
    "counter": ("balie", True),
    "email": ("mail-gateway", False),
    "phone": ("telefonie", False),
    "chat": ("chatplatform", False),
    "letter": ("postkamer", False),
}


def api_key(channel: str) -> str:
    return f"dev-scenario-{INTEGRATIONS[channel][0]}-key"


# The municipality's mail gateway in front of ingest (HTTP and SMTP): its
# Authentication-Results headers, and only those, are evidence of a sender's address.
MAIL_GATEWAY = "mx.scenario.example"


def ingest_env(*, smtp_port: int, mail_domains: list[str]) -> dict[str, str]:
    """What ingest needs to play scenarios: the integration keys and the SMTP receiver."""
    keys: dict[str, dict[str, Any]] = {
        name: {
            "sha256": hashlib.sha256(api_key(channel).encode()).hexdigest(),
            "channels": [channel],
            "may_assert_login": may_assert,
        }
        for channel, (name, may_assert) in INTEGRATIONS.items()
    }
    keys[INTEGRATIONS["email"][0]]["trusted_authserv_ids"] = [MAIL_GATEWAY]
    keys[INTEGRATIONS["phone"][0]]["may_assert_caller_id"] = True
    return {
        "EENLOKET_API_KEYS": json.dumps(keys),
        "EENLOKET_ALLOW_ANONYMOUS": "false",
        "EENLOKET_SMTP_PORT": str(smtp_port),
        "EENLOKET_SMTP_DOMAINS": json.dumps(sorted(set(mail_domains))),
        "EENLOKET_SMTP_TRUSTED_AUTHSERV_IDS": json.dumps([MAIL_GATEWAY]),
    }


def routing_teams(path: Path = ROUTING_FILE) -> list[str]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return sorted(doc["teams"])


# --- fresh identities per run ----------------------------------------------------------


class Identities:
    """Stand-in identifiers of a scenario file → fresh ones for this run.

    The same stand-in gets the same fresh value within a run (a family sharing an
    address keeps sharing it), and every run gets new ones, so scenarios can be played
    again on a database that already holds earlier runs. BSNs pass the 11-proef.
    """

    def __init__(self, run: str) -> None:
        self.run = run
        self._map: dict[tuple[str, str], str] = {}

    def get(self, kind: str, stand_in: str) -> str:
        key = (kind, stand_in)
        if key not in self._map:
            taken = set(self._map.values())
            value = self._fresh(kind, stand_in)
            while value in taken:
                value = self._fresh(kind, stand_in)
            self._map[key] = value
        return self._map[key]

    def _fresh(self, kind: str, stand_in: str) -> str:
        if kind == "bsn":
            return random_bsn()
        if kind == "kvk":
            return str(10_000_000 + secrets.randbelow(90_000_000))
        if kind == "phone":
            return random_mobile()
        if kind == "email":
            local, _, domain = stand_in.partition("@")
            return f"{local}+{self.run}@{domain}".lower()
        return stand_in


def random_mobile() -> str:
    """A Dutch mobile number in E.164 that ``phonenumbers`` (and so ingest) accepts."""
    while True:
        candidate = f"+316{1 + secrets.randbelow(5)}{secrets.randbelow(10**7):07d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            return candidate


def random_bsn() -> str:
    """Nine digits passing the 11-proef (9*d1 + 8*d2 + ... + 2*d8 - d9 = 0 mod 11)."""
    while True:
        digits = [1 + secrets.randbelow(9)] + [secrets.randbelow(10) for _ in range(7)]
        check = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if check < 10:
            return "".join(map(str, [*digits, check]))


# --- results ---------------------------------------------------------------------------


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


# --- the runner ------------------------------------------------------------------------


@dataclass
class _Done:
    """What a step left for later steps to refer to."""

    step: Step
    result: StepResult
    mail_id: str | None = None  # the e-mail's Message-ID
    external_id: str | None = None  # the channel's own id (call id, conversation)


class Runner:
    def __init__(
        self,
        *,
        ingest: str,
        caseview: str,
        smtp: tuple[str, int],
        teams: list[str] | None = None,
        timeout: float = 60.0,
        http: httpx.Client | None = None,
    ) -> None:
        self.ingest = ingest.rstrip("/")
        self.caseview = caseview.rstrip("/")
        self.smtp = smtp
        self.teams = teams or routing_teams()
        self.timeout = timeout
        self.http = http or httpx.Client(timeout=15)
        # The referee reads everything (every team, so nothing is redacted for it); what a
        # team may see is checked with that team's own token.
        self._referee = self._token("scenario-referee", self.teams, "kcc")
        self._purpose = "Scenario"

    # -- plumbing -----------------------------------------------------------------------

    @staticmethod
    def _token(user: str, teams: list[str], role: str) -> dict[str, str]:
        token = mint_token(user, teams=teams, roles=[role])
        return {"Authorization": f"Bearer {token}"}

    def _eventually(self, probe: Callable[[], T | None], what: str) -> T:
        deadline = time.monotonic() + self.timeout
        while True:
            value = probe()
            if value is not None:
                return value
            if time.monotonic() > deadline:
                raise ScenarioError(f"{what}: not within {self.timeout:.0f}s")
            time.sleep(0.05)

    def _get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        r = self.http.get(
            f"{self.caseview}{path}",
            headers={**(headers or self._referee), "X-Purpose": self._purpose},
            params=params or None,
        )
        if r.status_code != 200:
            raise ScenarioError(f"GET {path}: {r.status_code} {r.text[:300]}")
        return r.json()

    def _case(self, case_id: uuid.UUID, headers: dict[str, str] | None = None) -> Any:
        return self._get(f"/v1/cases/{case_id}", headers)

    def _party(self, party_id: uuid.UUID) -> Any:
        return self._get(f"/v1/parties/{party_id}")

    def _timeline(self, party_id: uuid.UUID, *types: str) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"type": list(types)} if types else {}
        return self._all(f"/v1/parties/{party_id}/timeline", None, **params)

    def _all(self, path: str, headers: dict[str, str] | None, **params: Any) -> list[Any]:
        """Every item of a keyset-paginated list, page after page."""
        items: list[Any] = []
        params["limit"] = 200
        while True:
            page = self._get(path, headers, **params)
            items += page["items"]
            if not page["next_cursor"]:
                return items
            params["cursor"] = page["next_cursor"]

    # -- playing ------------------------------------------------------------------------

    def play(self, scenario: Scenario) -> ScenarioReport:
        run = uuid.uuid4().hex[:8]
        self._purpose = f"Scenario {scenario.name} ({run})"
        self._sc = scenario
        self._ids = Identities(run)
        self._done: dict[str, _Done] = {}
        report = ScenarioReport(scenario=scenario, run=run)
        self._report = report
        started = time.monotonic()
        try:
            for step in scenario.steps:
                t0 = time.monotonic()
                result = StepResult(step.name, step.kind, step.actor, step.say)
                self._done[step.name] = _Done(step, result)
                report.steps.append(result)
                if step.is_message:
                    self._message(step, result)
                elif step.is_action:
                    self._action(step, result)
                else:
                    for check in step.check or []:
                        report.outcomes.append(self._check(step.name, check))
                result.seconds = time.monotonic() - t0
        except (ScenarioError, httpx.HTTPError, smtplib.SMTPException, OSError) as exc:
            report.aborted = f"step '{step.name}': {exc}"
        try:
            self._overview(report)
        except (ScenarioError, httpx.HTTPError) as exc:
            report.aborted = report.aborted or f"overview: {exc}"
        report.seconds = time.monotonic() - started
        return report

    @staticmethod
    def _now() -> datetime:
        # The channel's own moment (form submitted, call started) is now: the history's
        # order is then also the script's order.
        return datetime.now(UTC)

    # -- templates and identities ---------------------------------------------------------

    def _fill(self, text: str | None) -> str | None:
        if text is None:
            return None

        def one(m: re.Match[str]) -> str:
            ref, attr = m.group(1), m.group(2)
            if ref in self._sc.actors:
                return str(self._actor_value(ref, attr))
            number = self._done[ref].result.case_number
            if number is None:
                raise ScenarioError(f"'{{{ref}.{attr}}}': step '{ref}' has no case")
            return number

        return TEMPLATE.sub(one, text)

    def _actor_value(self, name: str, attr: str) -> str | None:
        actor = self._sc.actors[name]
        value: str | None = getattr(actor, attr, None)
        if value is None or attr == "name":
            return value
        return self._ids.get(attr, value)

    # -- messages -------------------------------------------------------------------------

    def _message(self, step: Step, result: StepResult) -> None:
        assert step.actor is not None
        actor = self._sc.actors[step.actor]
        assert isinstance(actor, Person | Business)
        send = getattr(self, f"_send_{step.kind}")
        message_id: uuid.UUID = send(step, actor, result)
        result.message_id = message_id
        where = self._eventually(
            lambda: self._locate(message_id), f"message '{step.name}' in the history"
        )
        result.party_id = uuid.UUID(where["party_id"])
        result.case_id = uuid.UUID(where["case_id"])
        case = self._case(result.case_id)
        result.case_number = case["number"]
        result.owner = case["owner_team"]
        explanation: dict[str, Any] = next(
            (e for e in case["routing_explanations"] if e["message_id"] == str(message_id)), {}
        )
        result.case_rule = explanation.get("explanation", {}).get("case_rule")
        result.flags = [f["kind"] for f in explanation.get("flags", [])]
        for group in step.message_expectations:
            self._report.outcomes.append(self._expect_message(step.name, result, group))

    def _locate(self, message_id: uuid.UUID) -> Any:
        r = self.http.get(
            f"{self.caseview}/v1/contacts/{message_id}",
            headers={**self._referee, "X-Purpose": self._purpose},
        )
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise ScenarioError(f"locating {message_id}: {r.status_code} {r.text[:200]}")
        return r.json()

    def _post_ingest(self, channel: str, body: dict[str, Any]) -> uuid.UUID:
        r = self.http.post(
            f"{self.ingest}/v1/channels/{channel}",
            json=body,
            headers={"X-Api-Key": api_key(channel)},
        )
        if r.status_code != 202:
            raise ScenarioError(f"POST /v1/channels/{channel}: {r.status_code} {r.text[:300]}")
        return uuid.UUID(r.json()["message_id"])

    def _identifiers(
        self, actor: Person | Business, chosen: Sequence[str] | None, login: str
    ) -> dict[str, str]:
        default = [*{"digid": ["bsn"], "eherkenning": ["kvk"]}.get(login, []), "email", "phone"]
        out: dict[str, str] = {}
        for kind in chosen if chosen is not None else default:
            stand_in = getattr(actor, kind, None)
            if stand_in is not None:
                out[kind] = self._ids.get(kind, stand_in)
        return out

    def _ext(self, step: Step, ref: str | None = None) -> str:
        return f"{self._report.run}-{ref or step.name}"

    def _send_web(self, step: Step, actor: Person | Business, result: StepResult) -> uuid.UUID:
        web = step.web
        assert web is not None
        result.transport = "portal (HTTP)"
        body: dict[str, Any] = {
            "submission_id": self._ext(step),
            "submitted_at": self._now().isoformat(),
            "authentication": web.login,
            "name": actor.name,
            "subject": self._fill(web.subject),
            "text": self._fill(web.text),
            **self._identifiers(actor, web.send, web.login),
        }
        if web.product:
            body["product"] = web.product
        if web.case_number:
            body["case_number"] = self._fill(web.case_number)
        if isinstance(actor, Business) and actor.establishment and web.login == "eherkenning":
            body["establishment"] = actor.establishment
        return self._post_ingest("web", body)

    def _send_app(self, step: Step, actor: Person | Business, result: StepResult) -> uuid.UUID:
        app = step.app
        assert app is not None
        result.transport = "app backend (HTTP)"
        body: dict[str, Any] = {
            "message_id": self._ext(step),
            "conversation_id": self._ext(step, app.conversation),
            "sent_at": self._now().isoformat(),
            "party": {
                "authentication": app.login,
                "name": actor.name,
                **self._identifiers(actor, app.send, app.login),
            },
            "text": self._fill(app.text),
            "attachments": [_json_attachment(a) for a in app.attachments],
        }
        if app.subject:
            body["subject"] = self._fill(app.subject)
        if app.product:
            body["product"] = app.product
        if app.case_number:
            body["case_number"] = self._fill(app.case_number)
        return self._post_ingest("app", body)

    def _send_chat(self, step: Step, actor: Person | Business, result: StepResult) -> uuid.UUID:
        chat = step.chat
        assert chat is not None
        result.transport = "chat platform (HTTP)"
        visitor: dict[str, Any] = {"handle": f"bezoeker-{self._ext(step, chat.session)}"}
        visitor["name"] = actor.name
        if actor.email and "email" in (chat.send or []):
            visitor["email"] = self._ids.get("email", actor.email)
        body = {
            "type": "session.started",
            "event_id": self._ext(step),
            "session_id": self._ext(step, chat.session),
            "occurred_at": self._now().isoformat(),
            "visitor": visitor,
            "topic": self._fill(chat.topic),
            "question": self._fill(chat.text),
        }
        return self._post_ingest("chat", body)

    def _send_phone(self, step: Step, actor: Person | Business, result: StepResult) -> uuid.UUID:
        call = step.phone
        assert call is not None
        result.transport = "telephony (HTTP)"
        start = self._now()
        body: dict[str, Any] = {
            "call_id": self._ext(step),
            "caller_number": None
            if call.anonymous or not actor.phone
            else self._ids.get("phone", actor.phone),
            "called_line": call.line,
            "caller_id_verified": call.caller_id_verified,
            "started_at": start.isoformat(),
            "ended_at": (start + timedelta(minutes=call.minutes)).isoformat(),
            "caller_name": actor.name,
            "agent_notes": self._fill(call.notes),
        }
        if call.subject:
            body["subject"] = self._fill(call.subject)
        if call.product:
            body["product"] = call.product
        if call.case_number:
            body["case_number"] = self._fill(call.case_number)
        if call.callback_of:
            body["callback_of"] = self._ext(step, call.callback_of)
        return self._post_ingest("phone", body)

    def _send_counter(self, step: Step, actor: Person | Business, result: StepResult) -> uuid.UUID:
        visit = step.counter
        assert visit is not None
        result.transport = "counter application (HTTP)"
        identity: dict[str, Any] = {"checked": "id-document" if visit.id_checked else "none"}
        if visit.id_checked and isinstance(actor, Person) and actor.bsn:
            identity["bsn"] = self._ids.get("bsn", actor.bsn)
        body: dict[str, Any] = {
            "visit_id": self._ext(step),
            "visited_at": self._now().isoformat(),
            "identity": identity,
            "name": actor.name,
            "topic": self._fill(visit.topic),
            "notes": self._fill(visit.notes),
            "attachments": [_json_attachment(a) for a in visit.attachments],
            **self._identifiers(actor, list(visit.send or []), "none"),
        }
        for attr in ("location", "product"):
            if getattr(visit, attr):
                body[attr] = getattr(visit, attr)
        if visit.case_number:
            body["case_number"] = self._fill(visit.case_number)
        return self._post_ingest("counter", body)

    def _send_letter(self, step: Step, actor: Person | Business, result: StepResult) -> uuid.UUID:
        letter = step.letter
        assert letter is not None
        result.transport = "mailroom scanner (HTTP)"
        body: dict[str, Any] = {
            "letter_id": self._ext(step),
            "received_at": self._now().isoformat(),
            "sender": {"name": actor.name, "address_lines": letter.address},
            "ocr_text": self._fill(letter.text),
        }
        if letter.subject:
            body["subject"] = self._fill(letter.subject)
        return self._post_ingest("letter", body)

    def _send_email(self, step: Step, actor: Person | Business, result: StepResult) -> uuid.UUID:
        mail = step.email
        assert mail is not None
        assert actor.email is not None
        sender = self._ids.get("email", actor.email)
        to = mail.to or self._sc.mailbox
        msg = EmailMessage()
        if mail.dmarc != "none":
            domain = sender.rpartition("@")[2]
            msg["Authentication-Results"] = (
                f"{MAIL_GATEWAY}; dmarc={mail.dmarc} header.from={domain}"
            )
        msg["From"] = formataddr((actor.name, sender))
        msg["To"] = to
        msg["Subject"] = self._fill(mail.subject) or ""
        msg["Date"] = format_datetime(self._now())
        own = f"{step.name}.{self._report.run}@{sender.rpartition('@')[2]}"
        msg["Message-ID"] = f"<{own}>"
        self._done[step.name].mail_id = own
        if mail.in_reply_to:
            earlier = self._done[mail.in_reply_to].mail_id
            msg["In-Reply-To"] = f"<{earlier}>"
            msg["References"] = f"<{earlier}>"
        msg.set_content(self._fill(mail.text) or "")
        for a in mail.attachments:
            maintype, _, subtype = a.media_type.partition("/")
            msg.add_attachment(
                _attachment_bytes(a), maintype=maintype, subtype=subtype, filename=a.filename
            )
        raw = msg.as_bytes()
        if mail.via == "http":
            result.transport = "mail gateway (HTTP)"
            r = self.http.post(
                f"{self.ingest}/v1/channels/email",
                content=raw,
                headers={"Content-Type": "message/rfc822", "X-Api-Key": api_key("email")},
            )
            if r.status_code != 202:
                raise ScenarioError(f"POST /v1/channels/email: {r.status_code} {r.text[:300]}")
            return uuid.UUID(r.json()["message_id"])
        result.transport = "SMTP receiver"
        host, port = self.smtp
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            smtp.ehlo("mailgateway.scenario.example")
            code, reply = smtp.mail(sender)
            if code != 250:
                raise ScenarioError(f"SMTP MAIL FROM: {code} {reply!r}")
            code, reply = smtp.rcpt(to)
            if code not in (250, 251):
                raise ScenarioError(f"SMTP RCPT TO: {code} {reply!r}")
            code, reply = smtp.data(raw)
        text = reply.decode(errors="replace")
        found = re.search(r"Accepted as ([0-9a-f-]{36})", text)
        if code != 250 or found is None:
            raise ScenarioError(f"SMTP DATA: {code} {text}")
        return uuid.UUID(found.group(1))

    # -- staff actions --------------------------------------------------------------------

    def _action(self, step: Step, result: StepResult) -> None:
        assert step.actor is not None
        staff = self._sc.actors[step.actor]
        assert isinstance(staff, Staff)
        headers = self._token(f"{step.actor}-{self._report.run}", [staff.team], staff.role)
        result.transport = "caseview"
        action = step.action
        if isinstance(action, DecideLink):
            path, body, party_id, case_id = self._decide_link_request(action)
        else:
            case_id = self._case_of(action.case)
            party_id = uuid.UUID(self._case(case_id)["party_id"])
            path = f"/v1/cases/{case_id}/{ROUTE[step.kind]}"
            body = self._action_body(step)
        result.case_id = case_id
        if case_id is not None:
            result.case_number = self._case(case_id)["number"]
        wanted = OUTCOME_EVENT[step.kind]
        before = {e["event_id"] for e in self._timeline(party_id, wanted, REJECTED)}
        r = self.http.post(
            f"{self.caseview}{path}",
            json=body,
            headers={**headers, "Idempotency-Key": self._ext(step)},
        )
        expects = step.action_expectations
        if r.status_code != 202:
            result.refused = r.status_code
            if not any(e.refused == r.status_code for e in expects):
                raise ScenarioError(f"POST {path}: {r.status_code} {r.text[:300]}")
        else:
            command_id = r.json()["command_id"]

            def outcome() -> dict[str, Any] | None:
                for e in self._timeline(party_id, wanted, REJECTED):
                    if e["event_id"] in before:
                        continue
                    if e["type"] == REJECTED and e["data"].get("command_id") == command_id:
                        return e
                    if e["type"] == wanted and (case_id is None or e["case_id"] == str(case_id)):
                        return e
                return None

            event = self._eventually(outcome, f"outcome of '{step.name}'")
            if event["type"] == REJECTED:
                result.rejected = str(event["data"].get("reason"))
                if not any(e.rejected is not None for e in expects):
                    raise ScenarioError(f"'{step.name}' rejected by the router: {result.rejected}")
            elif isinstance(action, DecideLink) and action.confirm:
                known = self._done[action.known].result.party_id
                assert known is not None
                root = self._root(known)
                self._eventually(
                    lambda: True if self._root(party_id) == root else None,
                    f"merge after '{step.name}'",
                )
        if case_id is not None:
            result.owner = self._case(case_id)["owner_team"]
        for group in expects:
            self._report.outcomes.append(self._expect_action(step.name, result, group))

    def _case_of(self, ref: str) -> uuid.UUID:
        case_id = self._done[ref].result.case_id
        if case_id is None:
            raise ScenarioError(f"step '{ref}' has no case")
        return case_id

    def _action_body(self, step: Step) -> dict[str, Any]:
        a = step.action
        match step.kind:
            case "handover":
                return {"to_team": a.to, "reason": self._fill(a.reason)}
            case "add_participant" | "remove_participant":
                body = {"team": a.team}
                return body | ({"reason": self._fill(a.reason)} if a.reason else {})
            case "note":
                return {"text": self._fill(a.text)}
            case "status":
                return {"status": a.status}
            case "close":
                return {"result": self._fill(a.result)}
            case "outbound":
                return {"channel": a.channel, "summary": self._fill(a.summary)}
        raise AssertionError(step.kind)

    def _decide_link_request(
        self, action: DecideLink
    ) -> tuple[str, dict[str, Any], uuid.UUID, uuid.UUID | None]:
        sender = self._done[action.sender].result.party_id
        known = self._done[action.known].result.party_id
        assert sender is not None
        assert known is not None
        known_members = set(self._party(known)["members"])
        suggestions = self._party(sender)["suggested_links"]
        match = [
            s
            for s in suggestions
            if s["direction"] == "outgoing" and s["suggested_party_id"] in known_members
        ]
        if not match:
            raise ScenarioError(
                f"no pending suggestion links '{action.sender}' to '{action.known}'"
            )
        body: dict[str, Any] = {"confirm": action.confirm, "verify_address": action.verify_address}
        if action.reason:
            body["reason"] = self._fill(action.reason)
        path = f"/v1/link-suggestions/{match[0]['suggestion_id']}/decision"
        return path, body, sender, None

    def _root(self, party_id: uuid.UUID) -> uuid.UUID:
        return uuid.UUID(self._party(party_id)["party_id"])

    # -- expectations ---------------------------------------------------------------------

    def _expect_message(self, name: str, r: StepResult, e: MessageExpect) -> Outcome:
        checks: list[tuple[str, bool, str]] = []

        def ref(step: str) -> StepResult:
            return self._done[step].result

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
            mine = self._root(r.party_id)
            for target, same in ((e.party, True), (e.not_party, False)):
                if target:
                    other_id = ref(target).party_id
                    assert other_id is not None
                    equal = mine == self._root(other_id)
                    label = ("same party as" if same else "not the party of") + f" '{target}'"
                    checks.append((label, equal == same, "same" if equal else "different"))
        if e.owner:
            checks.append((f"owner {e.owner}", r.owner == e.owner, f"owner {r.owner}"))
        if e.case_rule:
            checks.append(
                (f"case rule {e.case_rule}", r.case_rule == e.case_rule, f"rule {r.case_rule}")
            )
        if e.flags is not None:
            checks.append(
                (f"flags {e.flags}", sorted(r.flags) == sorted(e.flags), f"flags {r.flags}")
            )
        if e.provisional is not None or e.suggests_link_to or e.no_link_suggestion:
            assert r.party_id is not None
            party = self._party(r.party_id)
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
                members = set(self._party(target_id)["members"])
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
        return _outcome(name, e.gap, checks)

    def _expect_action(self, name: str, r: StepResult, e: Any) -> Outcome:
        checks: list[tuple[str, bool, str]] = []
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
        return _outcome(name, e.gap, checks)

    def _check(self, name: str, c: Check) -> Outcome:
        checks: list[tuple[str, bool, str]] = []
        if c.case:
            checks += self._check_case(c)
        elif c.party:
            checks += self._check_party(c)
        else:
            checks += self._check_team(c)
        outcome = _outcome(name, c.gap, checks)
        if c.say:
            outcome.label = f"{c.say} — {outcome.label}"
        return outcome

    def _message_ids(self, steps: list[str]) -> dict[str, str]:
        return {s: str(self._done[s].result.message_id) for s in steps}

    def _check_case(self, c: Check) -> list[tuple[str, bool, str]]:
        assert c.case is not None
        case = self._case(self._case_of(c.case))
        label = f"case of '{c.case}'"
        out: list[tuple[str, bool, str]] = []
        if c.owner:
            got = case["owner_team"]
            out.append((f"{label} owned by {c.owner}", got == c.owner, f"owner {got}"))
        if c.participants is not None:
            got = sorted(case["participants"])
            out.append(
                (
                    f"{label} participants {sorted(c.participants)}",
                    got == sorted(c.participants),
                    f"participants {got}",
                )
            )
        if c.status:
            got = case["status"]
            out.append((f"{label} status '{c.status}'", got == c.status, f"status {got!r}"))
        if c.result:
            got = case["result"] or ""
            out.append((f"{label} result", c.result in got, f"result {got!r}"))
        if c.handover_count is not None:
            got = case["handover_count"]
            out.append(
                (
                    f"{label} handover count {c.handover_count}",
                    got == c.handover_count,
                    f"count {got}",
                )
            )
        if c.handovers is not None:
            want = [_chain(h) for h in c.handovers]
            got_chain = [f"{h['from_team']} -> {h['to_team']}" for h in case["handovers"]]
            out.append((f"{label} handovers {want}", got_chain == want, f"handovers {got_chain}"))
        if c.confidential is not None:
            got = case["confidential"]
            out.append((f"{label} confidential: {c.confidential}", got == c.confidential, f"{got}"))
        contact_ids = {x["message_id"] for x in case["contacts"]}
        for step, mid in self._message_ids(c.contacts_include or []).items():
            out.append((f"{label} holds contact '{step}'", mid in contact_ids, "missing"))
        for step, mid in self._message_ids(c.contacts_exclude or []).items():
            out.append((f"{label} lacks contact '{step}'", mid not in contact_ids, "present"))
        return out

    def _check_party(self, c: Check) -> list[tuple[str, bool, str]]:
        assert c.party is not None
        party_id = self._done[c.party].result.party_id
        if party_id is None:
            raise ScenarioError(f"step '{c.party}' has no party")
        party = self._party(party_id)
        label = f"party of '{c.party}'"
        out: list[tuple[str, bool, str]] = []
        if c.history_includes or c.history_excludes:
            history = {e["message_id"] for e in self._timeline(party_id)}
            for step, mid in self._message_ids(c.history_includes or []).items():
                out.append((f"{label}: history holds '{step}'", mid in history, "missing"))
            for step, mid in self._message_ids(c.history_excludes or []).items():
                out.append((f"{label}: history lacks '{step}'", mid not in history, "present"))
        if c.open_cases is not None:
            got = [x["number"] for x in party["open_cases"]]
            out.append(
                (f"{label}: {c.open_cases} open case(s)", len(got) == c.open_cases, f"open {got}")
            )
        if c.cases is not None:
            got = [x["number"] for x in party["open_cases"] + party["closed_cases"]]
            out.append((f"{label}: {c.cases} case(s) in all", len(got) == c.cases, f"{got}"))
        if c.provisional is not None:
            got = party["provisional"]
            out.append((f"{label}: provisional {c.provisional}", got == c.provisional, f"{got}"))
        if c.pending_suggestions is not None:
            pending = len(party["suggested_links"])
            out.append(
                (
                    f"{label}: {c.pending_suggestions} suggestion(s) pending",
                    pending == c.pending_suggestions,
                    f"{pending} pending",
                )
            )
        return out

    def _check_team(self, c: Check) -> list[tuple[str, bool, str]]:
        assert c.team is not None
        headers = self._token(f"{c.team}-viewer-{self._report.run}", [c.team], "member")
        out: list[tuple[str, bool, str]] = []
        for steps, want in ((c.sees or [], True), (c.does_not_see or [], False)):
            for step in steps:
                seen = self._team_sees(headers, step)
                verb = "sees" if want else "does not see"
                got = "sees it" if seen else "sees only that a contact happened"
                out.append((f"{c.team} {verb} the text of '{step}'", seen == want, got))
        if c.queue_includes or c.queue_excludes:
            # The whole queue: a database kept between runs holds earlier runs' cases too.
            ids = {x["id"] for x in self._all(f"/v1/teams/{c.team}/queue", headers)}
            for step in c.queue_includes or []:
                case_id = str(self._case_of(step))
                out.append((f"{c.team}'s queue holds the case of '{step}'", case_id in ids, "no"))
            for step in c.queue_excludes or []:
                case_id = str(self._case_of(step))
                out.append((f"{c.team}'s queue lacks the case of '{step}'", case_id not in ids, ""))
        return out

    def _team_sees(self, headers: dict[str, str], step: str) -> bool:
        r = self._done[step].result
        assert r.case_id is not None
        assert r.message_id is not None
        # Where the contact is now: a confirmed link may have folded its case into another.
        located = self._locate(r.message_id)
        case_id = uuid.UUID(located["case_id"]) if located and located.get("case_id") else r.case_id
        case = self._case(case_id, headers)
        contact = next(x for x in case["contacts"] if x["message_id"] == str(r.message_id))
        return contact["text"] is not None

    # -- the overview for the report --------------------------------------------------------

    def _overview(self, report: ScenarioReport) -> None:
        teams = sorted(
            {a.team for a in self._sc.actors.values() if isinstance(a, Staff)}
            | set(self._sc.observe_teams)
        )
        report.teams = teams
        viewers = {t: self._token(f"{t}-viewer-{report.run}", [t], "member") for t in teams}
        roots: dict[uuid.UUID, list[str]] = {}
        for done in self._done.values():
            if done.step.is_message and done.result.party_id is not None:
                root = self._root(done.result.party_id)
                label = done.step.actor or "?"
                if label not in roots.setdefault(root, []):
                    roots[root].append(label)
        for root, labels in roots.items():
            party = self._party(root)
            cases = []
            for summary in party["open_cases"] + party["closed_cases"]:
                case = self._case(uuid.UUID(summary["id"]))
                visibility = {}
                for team, headers in viewers.items():
                    seen = self._case(uuid.UUID(summary["id"]), headers)
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
                self._invariants(report, case)
            report.parties.append(
                PartyOverview(
                    party_id=root,
                    label=", ".join(labels),
                    display_name=party["display_name"],
                    provisional=party["provisional"],
                    members=len(party["members"]),
                    timeline=list(reversed(self._timeline(root))),
                    cases=sorted(cases, key=lambda x: x.number),
                    pending_suggestions=len(party["suggested_links"]),
                )
            )

    def _invariants(self, report: ScenarioReport, case: dict[str, Any]) -> None:
        """Lesson 4, always: one owner at every moment, each handover explicit and counted."""
        chain = case["handovers"]
        ok = case["handover_count"] == len(chain) and all(
            a["to_team"] == b["from_team"] for a, b in itertools.pairwise(chain)
        )
        if chain:
            ok = (
                ok
                and chain[-1]["to_team"] == case["owner_team"]
                and all(h["reason"] for h in chain)
            )
        report.outcomes.append(
            Outcome(
                step="(invariant)",
                label=f"{case['number']}: one owner at every moment, explicit handovers",
                ok=ok,
                detail=f"owner {case['owner_team']}, count {case['handover_count']}, "
                f"chain {[(h['from_team'], h['to_team']) for h in chain]}",
            )
        )


def _outcome(step: str, gap: str | None, checks: list[tuple[str, bool, str]]) -> Outcome:
    failed = [f"{label} (got: {detail})" for label, ok, detail in checks if not ok]
    return Outcome(
        step=step,
        label="; ".join(label for label, _, _ in checks),
        ok=not failed,
        gap=gap,
        detail="; ".join(failed),
    )


def _chain(text: str) -> str:
    a, _, b = text.partition("->")
    return f"{a.strip()} -> {b.strip()}"


def _attachment_bytes(a: AttachmentSpec) -> bytes:
    if a.media_type == "application/pdf":
        return b"%PDF-1.4\n% scenario document: " + a.filename.encode() + b"\n%%EOF\n"
    return b"scenario document: " + a.filename.encode()


def _json_attachment(a: AttachmentSpec) -> dict[str, str]:
    return {
        "filename": a.filename,
        "media_type": a.media_type,
        "content_base64": base64.b64encode(_attachment_bytes(a)).decode(),
    }
