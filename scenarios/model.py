"""The scenario file format (YAML), as pydantic models. docs/scenarios.md explains it.

A scenario has *actors* (residents, businesses, staff of named teams) and a script of
*steps*. A step is one of:

- a message on a channel (``web``, ``email``, ``app``, ``chat``, ``phone``, ``counter``,
  ``letter``), sent by a resident or business through the real ingest route (e-mail: over
  HTTP or through the SMTP receiver), with expectations about where it lands;
- a staff action through caseview's API (``handover``, ``add_participant``,
  ``remove_participant``, ``note``, ``status``, ``close``, ``outbound``, ``decide_link``),
  done by a staff actor with a token for that actor's team and role;
- a ``check``: expectations about a case, a party or what a team may see, at that moment.

Steps are named; later steps refer to earlier ones by name (``case: aanvraag`` is the
case the step ``aanvraag`` landed in), because ids are only known when the scenario runs.
Texts may contain ``{actor.field}`` (``bsn``, ``kvk``, ``email``, ``phone``, ``name``) and
``{step.case_number}``; identifiers in the file are stand-ins that every run replaces by
fresh ones (see ``runner.Identities``), so a scenario can be played again and again.

An expectation group may carry ``gap: "..."``: it states the correct behaviour that the
system does not show yet. It is still evaluated; the run reports it as a known gap, and
the end-to-end test fails when a gap starts passing (so the marker gets removed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from stdnum.nl import bsn as stdnum_bsn

DATA_DIR = Path(__file__).resolve().parent / "data"

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
Team = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
Line = Annotated[str, Field(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]*$")]
Text = Annotated[str, Field(min_length=1, max_length=20_000)]
TEMPLATE = re.compile(r"\{([a-z0-9][a-z0-9-]*)\.([a-z_]+)\}")
ACTOR_FIELDS = ("bsn", "kvk", "email", "phone", "name")
STEP_FIELDS = ("case_number",)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- actors ----------------------------------------------------------------------------


class Person(_Model):
    """A resident (inwoner). Identifiers are stand-ins, replaced by fresh ones every run."""

    kind: Literal["resident"]
    name: Line
    bsn: str | None = Field(default=None, pattern=r"^\d{9}$")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[a-z]+$")
    phone: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$")
    note: str | None = None

    @field_validator("bsn")
    @classmethod
    def _elfproef(cls, value: str | None) -> str | None:
        if value is not None and not stdnum_bsn.is_valid(value):
            raise ValueError("not a valid BSN (11-proef)")
        return value


class Business(_Model):
    """A business (ondernemer), known by its KvK number (eHerkenning)."""

    kind: Literal["business"]
    name: Line
    kvk: str = Field(pattern=r"^\d{8}$")
    establishment: str | None = Field(
        default=None, pattern=r"^\d{12}$", description="vestigingsnummer (eHerkenning)"
    )
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[a-z]+$")
    phone: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$")
    note: str | None = None


class Staff(_Model):
    """An employee of a team; acts through caseview with a token for ``team`` and ``role``."""

    kind: Literal["staff"]
    name: Line
    team: Team
    role: Literal["kcc", "member", "lead"] = "member"


Actor = Annotated[Person | Business | Staff, Field(discriminator="kind")]


# --- expectations ----------------------------------------------------------------------


class MessageExpect(_Model):
    """Where a message lands. Every field is optional; ``gap`` marks a known gap."""

    gap: str | None = Field(default=None, description="correct behaviour not shown yet: why")
    new_case: bool | None = None
    case: Name | None = Field(default=None, description="joins the case of this step")
    not_case: Name | None = None
    party: Name | None = Field(default=None, description="same party (after merges)")
    not_party: Name | None = None
    owner: Team | None = None
    case_rule: str | None = None
    flags: list[str] | None = Field(default=None, description="exactly these flag kinds")
    provisional: bool | None = None
    suggests_link_to: Name | None = None
    no_link_suggestion: bool | None = None


class ActionExpect(_Model):
    """The outcome of a staff action: accepted (default), refused by caseview, or rejected
    by the router (``command.rejected`` with a reason containing ``rejected``)."""

    gap: str | None = None
    refused: int | None = Field(default=None, ge=400, le=499)
    rejected: str | None = None


CASE_FIELDS = (
    "owner",
    "participants",
    "status",
    "result",
    "handover_count",
    "handovers",
    "contacts_include",
    "contacts_exclude",
    "confidential",
)
PARTY_FIELDS = (
    "history_includes",
    "history_excludes",
    "open_cases",
    "cases",
    "provisional",
    "pending_suggestions",
)
TEAM_FIELDS = ("sees", "does_not_see", "queue_includes", "queue_excludes")


class Check(_Model):
    """Expectations at a moment: about a case, a party, or a team's view."""

    gap: str | None = None
    say: str | None = Field(default=None, description="what this check shows, for the report")
    # -- the subject: exactly one of case / party / team
    case: Name | None = None
    party: Name | None = None
    team: Team | None = None
    # -- a case
    owner: Team | None = None
    participants: list[Team] | None = Field(default=None, description="exactly these")
    status: str | None = None
    result: str | None = None
    handover_count: int | None = Field(default=None, ge=0)
    handovers: list[str] | None = Field(
        default=None, description="the chain, e.g. ['kcc -> werk-en-inkomen']"
    )
    contacts_include: list[Name] | None = None
    contacts_exclude: list[Name] | None = None
    confidential: bool | None = None
    # -- a party
    history_includes: list[Name] | None = None
    history_excludes: list[Name] | None = None
    open_cases: int | None = Field(default=None, ge=0)
    cases: int | None = Field(default=None, ge=0)
    provisional: bool | None = None
    pending_suggestions: int | None = Field(default=None, ge=0)
    # -- a team (token of that team, role member)
    sees: list[Name] | None = Field(default=None, description="the text of these messages")
    does_not_see: list[Name] | None = None
    queue_includes: list[Name] | None = Field(default=None, description="cases of these steps")
    queue_excludes: list[Name] | None = None

    @model_validator(mode="after")
    def _one_subject(self) -> Check:
        subjects = [s for s in ("case", "party", "team") if getattr(self, s) is not None]
        if len(subjects) != 1:
            raise ValueError("a check is about exactly one of 'case', 'party' or 'team'")
        allowed = {"case": CASE_FIELDS, "party": PARTY_FIELDS, "team": TEAM_FIELDS}[subjects[0]]
        fields = set(CASE_FIELDS + PARTY_FIELDS + TEAM_FIELDS)
        wrong = sorted(f for f in fields - set(allowed) if getattr(self, f) is not None)
        if wrong:
            raise ValueError(f"a check of a {subjects[0]} cannot have {', '.join(wrong)}")
        if not any(getattr(self, f) is not None for f in allowed):
            raise ValueError(f"a check of a {subjects[0]} needs one of {', '.join(allowed)}")
        return self


def _groups(value: Any) -> Any:
    """``expect`` is one mapping or a list of them (each may carry its own ``gap``)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# --- messages --------------------------------------------------------------------------


class AttachmentSpec(_Model):
    filename: Line
    media_type: str = Field(default="application/pdf", pattern=r"^[a-z]+/[a-z0-9.+-]+$")


class Web(_Model):
    login: Literal["none", "digid", "eherkenning"] = "none"
    send: list[Literal["bsn", "kvk", "email", "phone"]] | None = Field(
        default=None, description="which of the actor's identifiers the form carries"
    )
    subject: Line
    text: Text
    product: Line | None = None
    case_number: str | None = None


class Email(_Model):
    via: Literal["http", "smtp"]
    dmarc: Literal["pass", "fail", "none"] = Field(
        default="pass",
        description="what the municipality's mail gateway found for the sender's domain "
        "(its Authentication-Results header); 'none': no header, an unauthenticated From",
    )
    to: str | None = Field(default=None, description="default: the scenario's mailbox")
    subject: Line
    text: Text
    in_reply_to: Name | None = Field(default=None, description="an earlier e-mail step")
    attachments: list[AttachmentSpec] = Field(default_factory=list)


class App(_Model):
    login: Literal["none", "digid", "eherkenning"] = "none"
    conversation: Name | None = Field(default=None, description="default: the step's name")
    send: list[Literal["bsn", "kvk", "email", "phone"]] | None = None
    subject: Line | None = None
    text: Text
    product: Line | None = None
    case_number: str | None = None
    attachments: list[AttachmentSpec] = Field(default_factory=list)


class Chat(_Model):
    session: Name | None = Field(default=None, description="default: the step's name")
    send: list[Literal["email"]] | None = Field(
        default=None, description="the visitor states the actor's e-mail address"
    )
    topic: Line | None = None
    text: Text


class Phone(_Model):
    anonymous: bool = False
    caller_id_verified: bool = Field(
        default=False, description="the telephony platform marks the number network-verified"
    )
    line: Line = "14 0XX"
    subject: Line | None = None
    notes: Text
    minutes: int = Field(default=4, ge=1, le=120)
    product: Line | None = None
    case_number: str | None = None
    callback_of: Name | None = Field(default=None, description="an earlier phone step")


class Counter(_Model):
    id_checked: bool = False
    send: list[Literal["email", "phone"]] | None = None
    location: Line | None = None
    topic: Line
    notes: Text
    product: Line | None = None
    case_number: str | None = None
    attachments: list[AttachmentSpec] = Field(default_factory=list)


class Letter(_Model):
    address: list[Line] = Field(min_length=1, max_length=6)
    subject: Line | None = None
    text: Text


CHANNELS = ("web", "email", "app", "chat", "phone", "counter", "letter")


# --- staff actions ---------------------------------------------------------------------


class Handover(_Model):
    case: Name
    to: Team
    reason: Text


class Participant(_Model):
    case: Name
    team: Team
    reason: Text | None = None


class Note(_Model):
    case: Name
    text: Text


class Status(_Model):
    case: Name
    status: Literal["open", "in behandeling", "wacht op inwoner"]


class Close(_Model):
    case: Name
    result: Text


class Outbound(_Model):
    case: Name
    channel: Literal["web", "email", "app", "chat", "phone", "counter", "letter"]
    summary: Text


class DecideLink(_Model):
    """Decide the pending suggestion between the party of ``sender`` (who claimed an
    identifier) and the party of ``known`` (who holds it)."""

    sender: Name
    known: Name
    confirm: bool
    verify_address: bool = Field(
        default=False,
        description="With confirm: the sender's address belongs to the known party (verified), "
        "so later messages from it link automatically. Not for a shared address.",
    )
    reason: Text | None = None


ACTIONS = (
    "handover",
    "add_participant",
    "remove_participant",
    "note",
    "status",
    "close",
    "outbound",
    "decide_link",
)


class Step(_Model):
    name: Name
    say: str | None = Field(default=None, description="what happens, for the report")
    actor: Name | None = None
    # one of the channels ...
    web: Web | None = None
    email: Email | None = None
    app: App | None = None
    chat: Chat | None = None
    phone: Phone | None = None
    counter: Counter | None = None
    letter: Letter | None = None
    # ... or one staff action ...
    handover: Handover | None = None
    add_participant: Participant | None = None
    remove_participant: Participant | None = None
    note: Note | None = None
    status: Status | None = None
    close: Close | None = None
    outbound: Outbound | None = None
    decide_link: DecideLink | None = None
    # ... or checks
    check: list[Check] | None = None
    expect: list[MessageExpect] | list[ActionExpect] = Field(default_factory=list)

    @field_validator("check", mode="before")
    @classmethod
    def _check_list(cls, value: Any) -> Any:
        return _groups(value)

    @model_validator(mode="before")
    @classmethod
    def _expect_groups(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        groups = _groups(data.get("expect"))
        is_message = any(data.get(c) is not None for c in CHANNELS)
        model = MessageExpect if is_message else ActionExpect
        data["expect"] = [model.model_validate(g) for g in groups]
        return data

    @property
    def kind(self) -> str:
        for name in (*CHANNELS, *ACTIONS, "check"):
            if getattr(self, name) is not None:
                return name
        raise AssertionError("validated step without a kind")

    @property
    def is_message(self) -> bool:
        return self.kind in CHANNELS

    @property
    def is_action(self) -> bool:
        return self.kind in ACTIONS

    @property
    def action(self) -> Any:
        return getattr(self, self.kind)

    @property
    def message_expectations(self) -> list[MessageExpect]:
        return [e for e in self.expect if isinstance(e, MessageExpect)]

    @property
    def action_expectations(self) -> list[ActionExpect]:
        return [e for e in self.expect if isinstance(e, ActionExpect)]

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Step:
        kinds = [k for k in (*CHANNELS, *ACTIONS, "check") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"step '{self.name}' must have exactly one of: {', '.join(CHANNELS + ACTIONS)}, "
                f"check (has: {', '.join(kinds) or 'none'})"
            )
        if kinds[0] == "check":
            if self.actor is not None or self.expect:
                raise ValueError(f"check step '{self.name}' has no actor and no 'expect'")
        elif self.actor is None:
            raise ValueError(f"step '{self.name}' needs an 'actor'")
        return self


# --- the scenario ----------------------------------------------------------------------


class Scenario(_Model):
    name: Name
    title: Line
    municipality: Line
    lessons: list[int] = Field(min_length=1, description="lessons of the seed (1-8)")
    summary: Text
    mailbox: str = Field(
        pattern=r"^[^@\s]+@[a-z0-9.-]+\.[a-z]+$",
        description="the municipality's address e-mails go to (its domain is the SMTP domain)",
    )
    observe_teams: list[Team] = Field(
        default_factory=list,
        description="teams without an actor whose view the report shows (e.g. evenementen)",
    )
    actors: dict[Name, Actor]
    steps: list[Step] = Field(min_length=1)

    @field_validator("lessons")
    @classmethod
    def _lessons(cls, value: list[int]) -> list[int]:
        if any(not 1 <= n <= 8 for n in value):
            raise ValueError("the seed has eight lessons (1-8)")
        return value

    @property
    def mail_domain(self) -> str:
        return self.mailbox.rpartition("@")[2]

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def teams(self) -> set[str]:
        """Every team the scenario names (actors, actions, checks, expectations)."""
        found = set(self.observe_teams)
        found |= {a.team for a in self.actors.values() if isinstance(a, Staff)}
        for s in self.steps:
            action = s.action
            for attr in ("to", "team"):
                if isinstance(getattr(action, attr, None), str) and s.is_action:
                    found.add(getattr(action, attr))
            for e in s.message_expectations:
                if e.owner:
                    found.add(e.owner)
            for c in s.check or []:
                found |= {t for t in (c.owner, c.team) if t}
                found |= set(c.participants or [])
                for chain in c.handovers or []:
                    found |= {t.strip() for t in chain.split("->")}
        return found

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        problems = list(_problems(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _problems(sc: Scenario) -> Iterator[str]:
    seen: dict[str, Step] = {}
    for step in sc.steps:
        where = f"step '{step.name}'"
        if step.name in seen:
            yield f"{where}: the name is used twice"
        if step.name in sc.actors:
            yield f"{where}: the name is also an actor's name (templates would be ambiguous)"
        actor = sc.actors.get(step.actor) if step.actor else None
        if step.actor and actor is None:
            yield f"{where}: unknown actor '{step.actor}'"

        def earlier(
            ref: str | None, what: str, *, kinds: tuple[str, ...] = (), where: str = where
        ) -> Iterator[str]:
            if ref is None:
                return
            target = seen.get(ref)
            if target is None:
                yield f"{where}: {what} '{ref}' is not an earlier step"
            elif target.kind == "check":
                yield f"{where}: {what} '{ref}' is a check, not a message or action"
            elif kinds and target.kind not in kinds:
                yield f"{where}: {what} '{ref}' must be a {' or '.join(kinds)} step"

        if step.is_message:
            if actor is not None and isinstance(actor, Staff):
                yield f"{where}: a message comes from a resident or business, not staff"
            if actor is not None and not isinstance(actor, Staff):
                yield from _channel_problems(where, step, actor)
            if step.email:
                yield from earlier(step.email.in_reply_to, "in_reply_to", kinds=("email",))
            if step.phone:
                yield from earlier(step.phone.callback_of, "callback_of", kinds=("phone",))
            for e in step.message_expectations:
                for ref in (e.case, e.not_case, e.party, e.not_party, e.suggests_link_to):
                    yield from earlier(ref, "expect refers to")
        elif step.is_action:
            if actor is not None and not isinstance(actor, Staff):
                yield f"{where}: a staff action needs a staff actor"
            action = step.action
            if isinstance(action, DecideLink):
                yield from earlier(action.sender, "sender", kinds=CHANNELS)
                yield from earlier(action.known, "known")
            else:
                yield from earlier(action.case, "case")
        for c in step.check or []:
            for ref in (c.case, c.party):
                yield from earlier(ref, "check of")
            for refs in (
                c.contacts_include,
                c.contacts_exclude,
                c.history_includes,
                c.history_excludes,
                c.sees,
                c.does_not_see,
            ):
                for ref in refs or []:
                    yield from earlier(ref, "check names message", kinds=CHANNELS)
            for ref in (c.queue_includes or []) + (c.queue_excludes or []):
                yield from earlier(ref, "queue names")
            for chain in c.handovers or []:
                if len([t for t in chain.split("->") if t.strip()]) != 2:
                    yield f"{where}: handover '{chain}' must read 'from-team -> to-team'"
        for text in _texts(step):
            for ref, field in TEMPLATE.findall(text):
                if ref in sc.actors:
                    a = sc.actors[ref]
                    if field not in ACTOR_FIELDS or getattr(a, field, None) is None:
                        yield f"{where}: '{{{ref}.{field}}}': actor '{ref}' has no {field}"
                elif ref in seen:
                    if field not in STEP_FIELDS:
                        yield f"{where}: '{{{ref}.{field}}}': a step only offers case_number"
                else:
                    yield f"{where}: '{{{ref}.{field}}}' names no actor or earlier step"
        seen[step.name] = step


def _channel_problems(where: str, step: Step, actor: Person | Business) -> Iterator[str]:
    kvk = getattr(actor, "kvk", None)
    bsn = getattr(actor, "bsn", None)
    login = getattr(step.action, "login", "none")
    if login == "digid" and not bsn:
        yield f"{where}: a DigiD login needs an actor with a BSN"
    if login == "eherkenning" and not kvk:
        yield f"{where}: an eHerkenning login needs a business with a KvK number"
    for ident in getattr(step.action, "send", None) or []:
        if getattr(actor, ident, None) is None:
            yield f"{where}: sends '{ident}' but actor '{step.actor}' has none"
    if step.email and not actor.email:
        yield f"{where}: an e-mail needs an actor with an e-mail address"
    if step.phone and not step.phone.anonymous and not actor.phone:
        yield f"{where}: a call needs an actor with a phone number (or anonymous: true)"
    if step.counter and step.counter.id_checked and not bsn:
        yield f"{where}: an ID check at the counter needs an actor with a BSN"


def _texts(step: Step) -> Iterator[str]:
    action = step.action
    if step.kind == "check":
        return
    for attr in ("subject", "text", "notes", "topic", "summary", "reason", "result"):
        value = getattr(action, attr, None)
        if isinstance(value, str):
            yield value
    value = getattr(action, "case_number", None)
    if isinstance(value, str):
        yield value


# --- loading ---------------------------------------------------------------------------


def scenario_files(directory: Path = DATA_DIR) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def load_scenario(path: Path) -> Scenario:
    """Parse and validate one file; errors name the file."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        scenario = Scenario.model_validate(doc)
    except (yaml.YAMLError, ValueError) as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    if scenario.name != path.stem.split("_", 1)[-1]:
        raise ValueError(f"{path.name}: name '{scenario.name}' must match the file name")
    return scenario


def load_all(directory: Path = DATA_DIR) -> list[Scenario]:
    return [load_scenario(p) for p in scenario_files(directory)]
