"""The parts of the scenario format (docs/scenarios.md): actors, the messages of each
channel, staff actions, checks and the expectations of a step. ``model.py`` puts them
together into a ``Scenario``."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from stdnum.nl import bsn as stdnum_bsn

from shared.contracts.vocabulary import OPEN_STATUSES, CaseStatus

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
Team = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
Line = Annotated[str, Field(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]*$")]
Text = Annotated[str, Field(min_length=1, max_length=20_000)]
TEMPLATE = re.compile(r"\{([a-z0-9][a-z0-9-]*)\.([a-z_]+)\}")
ACTOR_FIELDS = ("bsn", "kvk", "email", "phone", "name")
STEP_FIELDS = ("case_number",)


class FormatModel(BaseModel):
    """Every part of the format: an unknown (misspelt) field is an error, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- actors ----------------------------------------------------------------------------


class Person(FormatModel):
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


class Business(FormatModel):
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


class Staff(FormatModel):
    """An employee of a team; acts through caseview with a token for ``team`` and ``role``."""

    kind: Literal["staff"]
    name: Line
    team: Team
    role: Literal["kcc", "member", "lead"] = "member"


Actor = Annotated[Person | Business | Staff, Field(discriminator="kind")]


# --- expectations ----------------------------------------------------------------------


class MessageExpect(FormatModel):
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


class ActionExpect(FormatModel):
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


class Check(FormatModel):
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
    status: CaseStatus | None = None
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


class AttachmentSpec(FormatModel):
    filename: Line
    media_type: str = Field(default="application/pdf", pattern=r"^[a-z]+/[a-z0-9.+-]+$")


class Web(FormatModel):
    login: Literal["none", "digid", "eherkenning"] = "none"
    send: list[Literal["bsn", "kvk", "email", "phone"]] | None = Field(
        default=None, description="which of the actor's identifiers the form carries"
    )
    subject: Line
    text: Text
    product: Line | None = None
    case_number: str | None = None


class Email(FormatModel):
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


class App(FormatModel):
    login: Literal["none", "digid", "eherkenning"] = "none"
    conversation: Name | None = Field(default=None, description="default: the step's name")
    send: list[Literal["bsn", "kvk", "email", "phone"]] | None = None
    subject: Line | None = None
    text: Text
    product: Line | None = None
    case_number: str | None = None
    attachments: list[AttachmentSpec] = Field(default_factory=list)


class Chat(FormatModel):
    session: Name | None = Field(default=None, description="default: the step's name")
    send: list[Literal["email"]] | None = Field(
        default=None, description="the visitor states the actor's e-mail address"
    )
    topic: Line | None = None
    text: Text


class Phone(FormatModel):
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


class Counter(FormatModel):
    id_checked: bool = False
    send: list[Literal["email", "phone"]] | None = None
    location: Line | None = None
    topic: Line
    notes: Text
    product: Line | None = None
    case_number: str | None = None
    attachments: list[AttachmentSpec] = Field(default_factory=list)


class Letter(FormatModel):
    address: list[Line] = Field(min_length=1, max_length=6)
    subject: Line | None = None
    text: Text


CHANNELS = ("web", "email", "app", "chat", "phone", "counter", "letter")


# --- staff actions ---------------------------------------------------------------------


class Handover(FormatModel):
    case: Name
    to: Team
    reason: Text


class Participant(FormatModel):
    case: Name
    team: Team
    reason: Text | None = None


class Note(FormatModel):
    case: Name
    text: Text


class Status(FormatModel):
    case: Name
    status: CaseStatus = Field(description="a case is closed with 'close', not here")

    @field_validator("status")
    @classmethod
    def _open(cls, value: CaseStatus) -> CaseStatus:
        if value not in OPEN_STATUSES:
            raise ValueError(f"a status change sets one of {', '.join(OPEN_STATUSES)}")
        return value


class Close(FormatModel):
    case: Name
    result: Text


class Outbound(FormatModel):
    case: Name
    channel: Literal["web", "email", "app", "chat", "phone", "counter", "letter"]
    summary: Text


class DecideLink(FormatModel):
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


class Reply(FormatModel):
    """Answer the resident through caseview (``POST /v1/cases/{id}/replies``): the outbound
    service sends it; the step waits until the reply is ``sent``."""

    case: Name
    recipient: Name = Field(description="the actor whose e-mail address (on the case) it goes to")
    channel: Literal["email"] = "email"
    template: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=100)
    subject: Line | None = Field(default=None, description="replaces the template's subject")
    text: Text | None = Field(default=None, description="the staff member's own words")
    confirm_claimed: bool = Field(
        default=False, description="the address is only claimed: staff confirm sending to it"
    )

    @model_validator(mode="after")
    def _words(self) -> Reply:
        if self.template is None and self.text is None:
            raise ValueError("a reply needs a 'template', a 'text' or both")
        return self


ACTIONS = (
    "handover",
    "add_participant",
    "remove_participant",
    "note",
    "status",
    "close",
    "outbound",
    "decide_link",
    "reply",
)


class Answer(FormatModel):
    """The resident answers a reply's e-mail as a mail program does: to its Reply-To, with
    In-Reply-To and References its Message-ID, through the SMTP receiver (the runner reads
    the mail from Mailpit)."""

    reply: Name = Field(description="an earlier reply step")
    dmarc: Literal["pass", "fail", "none"] = "pass"
    subject: Line | None = Field(default=None, description="default: 'Re: ' + the mail's")
    text: Text


# Steps that bring a message in (a channel's, or an answer to a reply's e-mail).
MESSAGES = (*CHANNELS, "answer")


class Step(FormatModel):
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
    answer: Answer | None = None
    # ... or one staff action ...
    handover: Handover | None = None
    add_participant: Participant | None = None
    remove_participant: Participant | None = None
    note: Note | None = None
    status: Status | None = None
    close: Close | None = None
    outbound: Outbound | None = None
    decide_link: DecideLink | None = None
    reply: Reply | None = None
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
        is_message = any(data.get(c) is not None for c in MESSAGES)
        model = MessageExpect if is_message else ActionExpect
        data["expect"] = [model.model_validate(g) for g in groups]
        return data

    @property
    def kind(self) -> str:
        for name in (*MESSAGES, *ACTIONS, "check"):
            if getattr(self, name) is not None:
                return name
        raise AssertionError("validated step without a kind")

    @property
    def is_message(self) -> bool:
        return self.kind in CHANNELS

    @property
    def is_answer(self) -> bool:
        return self.kind == "answer"

    @property
    def brings_message(self) -> bool:
        """A channel's message or an answer: it lands somewhere (``expect``)."""
        return self.kind in MESSAGES

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
        kinds = [k for k in (*MESSAGES, *ACTIONS, "check") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"step '{self.name}' must have exactly one of: {', '.join(MESSAGES + ACTIONS)}, "
                f"check (has: {', '.join(kinds) or 'none'})"
            )
        if kinds[0] == "check":
            if self.actor is not None or self.expect:
                raise ValueError(f"check step '{self.name}' has no actor and no 'expect'")
        elif self.actor is None:
            raise ValueError(f"step '{self.name}' needs an 'actor'")
        return self
