"""The staff commands, one row each: path, body, who may send it, what the read model must
say first, and the command it becomes. ``routes.py`` makes the routes from ``COMMANDS``.

A command caseview can already tell will fail is refused here, synchronously, with a Dutch
``detail`` that names the field: the bodies refuse unstorable and over-long text
(models.py), the routing file's teams (teams.py) refuse unknown teams, the read model
refuses what contradicts it (preconditions.py). What only the router can know arrives as
the command's status.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview import messages
from services.caseview.auth import ACT_ON_CASES, DECIDE_IDENTITY, Principal, Role
from services.caseview.commands import preconditions
from services.caseview.commands.models import (
    CloseRequest,
    HandOverRequest,
    LinkDecisionRequest,
    MergeRequest,
    NoteRequest,
    OutboundContactRequest,
    ParticipantRequest,
    StatusRequest,
    UnmergeRequest,
)
from services.caseview.parties import merges, preferences
from services.caseview.viewer import CaseAccess, case_access
from shared.contracts import Actor, Event
from shared.contracts import commands as cmd
from shared.http import ProblemError

E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Sender:
    """Who sends a command about what: the acting team, the Kafka key (case or party), and
    for a case command the case as the read model has it."""

    request: Request
    session: AsyncSession
    principal: Principal
    target: uuid.UUID  # the id in the path
    team: str | None
    key: uuid.UUID
    case: CaseAccess | None = None

    def by(self) -> Actor:
        return Actor(user=self.principal.user, team=self.team)

    @property
    def owned_case(self) -> CaseAccess:
        assert self.case is not None, "a case command's sender has its case"
        return self.case


# --- who may send: required role, the acting team and the key --------------------------

Authorize = Callable[[Request, AsyncSession, Principal, uuid.UUID], Awaitable[Sender]]
CASE_NOT_FOUND = ("Case not found", "Zaak niet gevonden (of nog niet verwerkt).")


def case_team(*, owner_only: bool) -> Authorize:
    """The case's owning team; unless ``owner_only``, also a participating team or the
    contact centre (notes and contacts)."""

    async def authorize(
        request: Request, session: AsyncSession, principal: Principal, case_id: uuid.UUID
    ) -> Sender:
        if not principal.has_any(ACT_ON_CASES):
            raise ProblemError(403, "Not allowed", "Uw rol staat geen acties op zaken toe.")
        case = (await case_access(session, [case_id])).get(case_id)
        if case is None:
            raise ProblemError(404, *CASE_NOT_FOUND)
        team = _acting_team(principal, case, owner_only=owner_only)
        return Sender(request, session, principal, case_id, team, key=case_id, case=case)

    return authorize


def _acting_team(principal: Principal, case: CaseAccess, *, owner_only: bool) -> str | None:
    if case.owner_team in principal.teams:
        return case.owner_team
    if not owner_only:
        joined = sorted(principal.teams & case.participants)
        if joined:
            return joined[0]
        if principal.has_any(frozenset({Role.KCC})):
            return "kcc" if "kcc" in principal.teams else None
    raise ProblemError(
        403,
        "Not your case",
        f"Alleen het team dat eigenaar is van de zaak ({case.owner_team}) kan dit doen.",
    )


PartyOf = Callable[[AsyncSession, uuid.UUID], Awaitable[uuid.UUID | None]]


def identity(party_of: PartyOf | None = None, missing: tuple[str, str] = ("", "")) -> Authorize:
    """The contact centre or a team lead; the key is the party the path's id belongs to
    (``party_of``; 404 ``missing`` when none), or the path's party itself."""

    async def authorize(
        request: Request, session: AsyncSession, principal: Principal, target: uuid.UUID
    ) -> Sender:
        if not principal.has_any(DECIDE_IDENTITY):
            raise ProblemError(
                403,
                "Not allowed",
                "Alleen het klantcontactcentrum of een teamleider beslist hierover.",
            )
        key = target if party_of is None else await party_of(session, target)
        if key is None:
            raise ProblemError(404, *missing)
        team = "kcc" if "kcc" in principal.teams else min(principal.teams, default=None)
        return Sender(request, session, principal, target, team, key=key)

    return authorize


# --- what the read model must say first -------------------------------------------------

Check = Callable[[Sender, Any], Awaitable[None]]


def conflict(detail: str, title: str = "Conflicts with the current state") -> ProblemError:
    return ProblemError(409, title, detail)


def invalid(
    errors: Sequence[Mapping[str, Any]], prefix: Sequence[str], detail: str | None = None
) -> ProblemError:
    """A 422 like FastAPI's, for what is checked in the route: Dutch detail, fields named."""
    refused = ProblemError(
        422, "Request validation failed", detail or messages.validation_detail(errors)
    )
    refused.problem = refused.problem.model_copy(update={"errors": messages.listed(errors, prefix)})
    return refused


def known_team(name: str) -> Check:
    """The body's team ``name`` is a team of the routing file (else 422)."""

    async def check(sender: Sender, body: Any) -> None:
        team: str = getattr(body, name)
        teams: frozenset[str] = sender.request.app.state.teams
        if team not in teams:
            raise invalid(
                [{"loc": ("body", name), "msg": f"unknown team '{team}'", "type": "unknown_team"}],
                (),
                f"Het veld {messages.field(name)}: team '{team}' bestaat niet in het "
                "routeringsbestand.",
            )

    return check


async def _open(sender: Sender, action: str) -> preconditions.CaseState:
    state = await preconditions.case_state(sender.session, sender.key)
    if state is None:
        raise ProblemError(404, *CASE_NOT_FOUND)
    if not state.is_open:
        raise conflict(
            f"Zaak {state.number} is al afgehandeld en kan niet meer {action}.", "Case closed"
        )
    return state


def open_case(action: str) -> Check:
    """409 when the read model says the case is closed (the router refuses it too)."""

    async def check(sender: Sender, body: Any) -> None:
        await _open(sender, action)

    return check


async def _new_owner(sender: Sender, body: HandOverRequest) -> None:
    if body.to_team == sender.owned_case.owner_team:
        raise conflict(f"De zaak is al van team {body.to_team}.", "Already the owner")


async def _not_involved(sender: Sender, body: ParticipantRequest) -> None:
    case = sender.owned_case
    if body.team == case.owner_team or body.team in case.participants:
        raise conflict(
            f"Team {body.team} is eigenaar van de zaak of neemt er al aan deel.",
            "Already involved",
        )


async def _participates(sender: Sender, body: ParticipantRequest) -> None:
    if body.team not in sender.owned_case.participants:
        raise conflict(f"Team {body.team} neemt niet deel aan de zaak.", "Not a participant")


async def _status_changes(sender: Sender, body: StatusRequest) -> None:
    state = await _open(sender, "van status veranderen")
    if state.status == body.status:
        raise conflict(f"De zaak heeft al de status '{body.status}'.", "Status unchanged")


async def _undecided(sender: Sender, body: LinkDecisionRequest) -> None:
    decided = await preconditions.suggestion_decision(sender.session, sender.target)
    if decided is not None:
        raise conflict(
            "Over deze voorgestelde koppeling is al besloten: "
            f"{messages.DECISIONS.get(decided, decided)}.",
            "Already decided",
        )


async def _mergeable(sender: Sender, body: MergeRequest) -> None:
    party_id, session = sender.target, sender.session
    if body.merged_party_id == party_id:
        raise conflict("Een dossier kan niet met zichzelf worden samengevoegd.", "Same party")
    for p in (party_id, body.merged_party_id):
        if not await merges.party_exists(session, p):
            raise ProblemError(
                404, "Party not found", "Inwoner of ondernemer niet gevonden (of nog niet verwerkt)"
            )
    merged_root = await merges.resolve(session, body.merged_party_id)
    if merged_root == await merges.resolve(session, party_id):
        raise conflict("De twee dossiers zijn al samengevoegd.", "Already merged")
    if merged_root != body.merged_party_id:
        raise conflict(
            "Het samen te voegen dossier ('merged_party_id') is al samengevoegd met een ander "
            "dossier; maak die samenvoeging eerst ongedaan.",
            "Merged elsewhere",
        )


async def _existing_party(session: AsyncSession, party_id: uuid.UUID) -> uuid.UUID | None:
    if not await merges.party_exists(session, party_id):
        return None
    return await merges.resolve(session, party_id)


async def _preferences_change(sender: Sender, body: preferences.ContactPreferencesRequest) -> None:
    now = await preferences.of(sender.session, sender.key)
    if now == preferences.Preferences(body.preferred_channel, frozenset(body.opted_out)):
        raise conflict("De contactvoorkeuren zijn al zo ingesteld.", "Unchanged")


async def _not_undone(sender: Sender, body: UnmergeRequest) -> None:
    if await preconditions.merge_undone(sender.session, sender.target):
        raise conflict("Deze samenvoeging is al ongedaan gemaakt.", "Already undone")


# --- the table ---------------------------------------------------------------------------


def command(model: type[E], **fields: Any) -> E:
    """The command, validated by its contract (the router validates it the same way). The
    request body passed the same field types already; what can still fail here came from
    the read model or the token (from_team, by)."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise invalid(exc.errors(include_input=False), ("command",)) from exc


@dataclass(frozen=True)
class CommandRoute:
    path: str  # under /v1; its one {placeholder} is the id the command is about
    operation_id: str
    summary: str
    body: type[BaseModel]
    authorize: Authorize
    checks: tuple[Check, ...]
    build: Callable[[Sender, Any], Event]
    method: str = "POST"  # PUT: the command sets the whole of something (preferences)


COMMANDS: tuple[CommandRoute, ...] = (
    CommandRoute(
        "/cases/{case_id}/handovers",
        "handOverCase",
        "Hand the case over to another team, with a reason",
        HandOverRequest,
        case_team(owner_only=True),
        (known_team("to_team"), _new_owner, open_case("worden overgedragen")),
        lambda s, b: command(
            cmd.HandOverCase,
            case_id=s.key,
            from_team=s.owned_case.owner_team,
            to_team=b.to_team,
            reason=b.reason,
            by=s.by(),
        ),
    ),
    CommandRoute(
        "/cases/{case_id}/participants",
        "addParticipant",
        "Let another team take part in the case (e.g. vooroverleg)",
        ParticipantRequest,
        case_team(owner_only=True),
        (known_team("team"), _not_involved, open_case("worden uitgebreid met een team")),
        lambda s, b: command(
            cmd.AddParticipant, case_id=s.key, team=b.team, reason=b.reason, by=s.by()
        ),
    ),
    CommandRoute(
        "/cases/{case_id}/participant-removals",
        "removeParticipant",
        "End a team's participation in the case",
        ParticipantRequest,
        case_team(owner_only=True),
        (_participates,),
        lambda s, b: command(
            cmd.RemoveParticipant, case_id=s.key, team=b.team, reason=b.reason, by=s.by()
        ),
    ),
    CommandRoute(
        "/cases/{case_id}/status",
        "changeCaseStatus",
        "Change the case's status",
        StatusRequest,
        case_team(owner_only=True),
        (_status_changes,),
        lambda s, b: command(cmd.ChangeStatus, case_id=s.key, status=b.status, by=s.by()),
    ),
    CommandRoute(
        "/cases/{case_id}/close",
        "closeCase",
        "Close the case (afgehandeld) with its result",
        CloseRequest,
        case_team(owner_only=True),
        (open_case("worden afgesloten"),),
        lambda s, b: command(cmd.CloseCase, case_id=s.key, result=b.result, by=s.by()),
    ),
    # Notes and contacts are allowed on a closed case: the history goes on.
    CommandRoute(
        "/cases/{case_id}/notes",
        "addNote",
        "Add an internal note to the case",
        NoteRequest,
        case_team(owner_only=False),
        (),
        lambda s, b: command(cmd.AddNote, case_id=s.key, text=b.text, by=s.by()),
    ),
    CommandRoute(
        "/cases/{case_id}/outbound-contacts",
        "registerOutboundContact",
        "Register a contact the municipality made (called back, wrote, ...)",
        OutboundContactRequest,
        case_team(owner_only=False),
        (),
        lambda s, b: command(
            cmd.RegisterOutboundContact,
            case_id=s.key,
            channel=b.channel,
            summary=b.summary,
            by=s.by(),
        ),
    ),
    CommandRoute(
        "/link-suggestions/{suggestion_id}/decision",
        "decideLinkSuggestion",
        "Confirm (then merge) or reject a suggested identity link",
        LinkDecisionRequest,
        identity(
            merges.suggestion_party,
            ("Suggestion not found", "Voorgestelde koppeling niet gevonden."),
        ),
        (_undecided,),
        lambda s, b: command(
            cmd.DecideLink,
            suggestion_id=s.target,
            confirm=b.confirm,
            verify_address=b.verify_address,
            reason=b.reason,
            by=s.by(),
        ),
    ),
    CommandRoute(
        "/parties/{party_id}/merges",
        "mergeParties",
        "Merge another party into this one (the same person); can be undone",
        MergeRequest,
        identity(),
        (_mergeable,),
        lambda s, b: command(
            cmd.MergeParties,
            party_id=s.target,
            merged_party_id=b.merged_party_id,
            reason=b.reason,
            by=s.by(),
        ),
    ),
    CommandRoute(
        "/merges/{merge_id}/undo",
        "unmergeParties",
        "Undo a merge: two histories again",
        UnmergeRequest,
        identity(merges.merge_party, ("Merge not found", "Samenvoeging niet gevonden.")),
        (_not_undone,),
        lambda s, b: command(cmd.UnmergeParties, merge_id=s.target, reason=b.reason, by=s.by()),
    ),
    CommandRoute(
        "/parties/{party_id}/contact-preferences",
        "setContactPreferences",
        "Set the party's preferred reply channel and the channels it opted out of (the whole set)",
        preferences.ContactPreferencesRequest,
        identity(_existing_party, ("Party not found", "Inwoner of ondernemer niet gevonden.")),
        (_preferences_change,),
        lambda s, b: command(
            cmd.SetContactPreferences,
            party_id=s.key,
            preferred_channel=b.preferred_channel,
            opted_out=b.opted_out,
            reason=b.reason,
            by=s.by(),
        ),
        method="PUT",
    ),
)
