"""Routing accuracy: route a labelled set of messages through the real use case
(``route_messages`` on the in-memory store) and compare with what a KCC employee expected.

The set (``tests/routing_eval/``, format in docs/routing.md "Measuring accuracy") is a
directory of YAML files: ``teams.yaml`` maps each product to the team a person would give
it, every other file lists messages in the order they arrive. A message says its channel,
its sender (a label: the same label on the same channel is the same resident), its text,
the product it is about (``null``: nothing standard, the KCC's) and, for a follow-up, the
earlier message whose case it belongs to (``joins``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from services.router.route import route_messages
from services.router.routing.rules import Routing
from services.router.store.memory import FakeRouterStore
from shared.contracts import (
    Channel,
    Evidence,
    IdentifierKind,
    InboundMessage,
    SenderIdentifier,
    Trust,
)

DEFAULT_SET = Path(__file__).resolve().parents[3] / "tests" / "routing_eval"
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday; messages arrive STEP apart
STEP = timedelta(minutes=7)


@dataclass(frozen=True)
class Thresholds:
    """The build fails below these (issue #23's targets)."""

    product_accuracy: float = 0.95  # on messages that name a standard product
    team_accuracy: float = 0.95
    wrong_case_joins: int = 0
    none_to_kcc: float = 1.0  # messages without a recognisable product that reach the KCC
    kcc_fallback: float = 0.05  # messages *with* a product that the KCC gets anyway


class Labelled(BaseModel):
    """One labelled message, as written in the set."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str
    channel: Channel = Field(alias="ch")
    sender: str = Field(alias="from")
    subject: str | None = Field(default=None, alias="subj")
    text: str
    product: str | None = Field(alias="p")
    joins: str | None = None  # the earlier message whose case this one belongs to
    team: str | None = None  # when the owner is not the product's usual team
    hint: str | None = None  # a form's product field
    also: list[str] = Field(default_factory=list)  # other topics (multi-topic messages)
    note: str | None = None


@dataclass(frozen=True)
class LabelledSet:
    teams: dict[str, str]
    messages: list[Labelled]
    files: list[str]

    def expected_team(self, m: Labelled) -> str | None:
        if m.team is not None:
            return m.team
        return None if m.product is None else self.teams.get(m.product)


_CHANNELS = [Channel.EMAIL, Channel.WEB, Channel.APP, Channel.CHAT, Channel.PHONE]
_CHANNELS += [Channel.COUNTER, Channel.LETTER]
_NAMES = ["Marieke", "H. de Wit", "Fatima", "Kees en Ria", "J.P. van Rooij", "Sven", "Noor"]
_GREETINGS = ["Goedemorgen,", "Beste meneer/mevrouw,", "Hallo,", "Geachte heer, mevrouw,"]
_CLOSINGS = ["Met vriendelijke groet,", "Groet,", "Alvast bedankt!", "mvg"]


def _framed(label: str, n: int, product: str | None, phrase: str) -> Labelled:
    """The ``n``-th short request of a ``phrases`` file (``varianten.yaml``), as the
    ``n``-th channel in turn writes it; its id and sender ``<file>-<n>``."""
    channel = _CHANNELS[n % len(_CHANNELS)]
    name = _NAMES[n % len(_NAMES)]
    subject = None
    if channel == Channel.EMAIL:
        subject = " ".join(phrase.split()[:4]).rstrip(".,?!")
        text = f"{_GREETINGS[n % 4]}\n\n{phrase}\n\n{_CLOSINGS[n % 4]}\n{name}"
    elif channel == Channel.LETTER:
        text = f"Geachte heer, mevrouw,\n\n{phrase}\n\nHoogachtend,\n{name}"
    elif channel == Channel.PHONE:
        text = f"Beller geeft aan: {phrase[0].lower()}{phrase[1:]}"
    elif channel == Channel.COUNTER:
        text = f"Klant aan de balie. {phrase}"
    elif channel == Channel.CHAT:
        text = phrase.lower().rstrip(".")
    else:
        text = phrase
    return Labelled.model_validate(
        {"id": f"{label}-{n:03d}", "ch": channel, "from": f"{label}-{n:03d}", "subj": subject}
        | {"text": text, "p": product}
    )


def load_set(path: Path = DEFAULT_SET) -> LabelledSet:
    """Read a set: a directory of YAML files (``teams.yaml`` + message files), or one file."""
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    teams: dict[str, str] = {}
    messages: list[Labelled] = []
    for f in files:
        raw = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        teams.update(raw.get("teams", {}))
        messages += [Labelled.model_validate(m) for m in raw.get("messages", [])]
        framed = [
            (product, phrase)
            for product, phrases in (raw.get("phrases") or {}).items()
            for phrase in phrases
        ]
        messages += [_framed(f.stem, n, p, phrase) for n, (p, phrase) in enumerate(framed)]
    seen: set[str] = set()
    for m in messages:
        if m.id in seen:
            raise ValueError(f"message id '{m.id}' appears twice")
        if m.joins is not None and m.joins not in seen:
            raise ValueError(f"{m.id}: joins '{m.joins}', which is not an earlier message")
        if m.product is not None and m.product not in teams and m.team is None:
            raise ValueError(f"{m.id}: product '{m.product}' has no team in teams.yaml")
        seen.add(m.id)
    return LabelledSet(teams, messages, [f.name for f in files])


def _digits(label: str, n: int) -> str:
    return str(int(hashlib.sha256(label.encode()).hexdigest(), 16))[:n]


def _bsn(label: str) -> str:
    """A BSN passing the 11-proef, the same for every message of ``label``."""
    for salt in range(100):
        digits = [int(d) for d in _digits(f"{label}/{salt}", 8)]
        last = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if last < 10 and digits[0] != 0:
            return "".join(map(str, digits)) + str(last)
    raise AssertionError("no BSN")  # pragma: no cover - 100 tries always find one


def _sender(m: Labelled) -> tuple[list[SenderIdentifier], list[str]]:
    """What the channel proves about the sender, as ingest would set it."""
    who = m.sender
    if m.channel in (Channel.WEB, Channel.APP, Channel.COUNTER):
        # A DigiD login online; an ID document checked at the counter.
        login = Evidence.ID_DOCUMENT if m.channel == Channel.COUNTER else Evidence.DIGID
        bsn = SenderIdentifier(
            kind=IdentifierKind.BSN, value=_bsn(who), trust=Trust.AUTHENTICATED, evidence=login
        )
        return [bsn], []
    if m.channel == Channel.EMAIL:
        address = f"{who}@voorbeeld.nl"
        mail = SenderIdentifier(
            kind=IdentifierKind.EMAIL, value=address, trust=Trust.CLAIMED, evidence=Evidence.DMARC
        )
        return [mail], []
    if m.channel == Channel.PHONE:
        number = "+316" + _digits(who, 8)
        phone = SenderIdentifier(
            kind=IdentifierKind.PHONE,
            value=number,
            trust=Trust.CLAIMED,
            evidence=Evidence.NETWORK_CALLER_ID,
        )
        return [phone], []
    if m.channel == Channel.CHAT:
        handle = SenderIdentifier(kind=IdentifierKind.CHAT, value=who, trust=Trust.CLAIMED)
        return [handle], [f"chat:{who}"]
    postal = SenderIdentifier(
        kind=IdentifierKind.POSTAL_ADDRESS, value=f"{who}straat 1, 9999 ZZ", trust=Trust.CLAIMED
    )
    return [postal], []


@dataclass
class Outcome:
    message: Labelled
    expected_team: str | None
    product: str | None
    team: str
    case_rule: str
    joined: bool
    wrong_join: bool
    missed_join: bool
    matched: list[str]
    owner_detail: str


@dataclass
class Report:
    outcomes: list[Outcome]
    thresholds: Thresholds = field(default_factory=Thresholds)

    def _share(self, hits: int, total: int) -> float:
        return hits / total if total else 1.0

    @property
    def named(self) -> list[Outcome]:
        """Messages about a standard product (by its words, or a follow-up of its case)."""
        return [o for o in self.outcomes if o.message.product is not None]

    @property
    def none(self) -> list[Outcome]:
        """Messages with no recognisable product and no earlier case: the KCC's."""
        return [o for o in self.outcomes if o.message.product is None and not o.message.joins]

    @property
    def product_accuracy(self) -> float:
        return self._share(sum(o.product == o.message.product for o in self.named), len(self.named))

    @property
    def team_accuracy(self) -> float:
        labelled = [o for o in self.outcomes if o.expected_team is not None]
        return self._share(sum(o.team == o.expected_team for o in labelled), len(labelled))

    @property
    def wrong_case_joins(self) -> int:
        return sum(o.wrong_join for o in self.outcomes)

    @property
    def missed_joins(self) -> int:
        return sum(o.missed_join for o in self.outcomes)

    def kcc(self, outcomes: list[Outcome], default_team: str) -> float:
        return self._share(sum(o.team == default_team for o in outcomes), len(outcomes))

    def misroutes(self) -> Counter[tuple[str, str]]:
        """(expected product, routed product) for every message routed to another one."""
        return Counter(
            (o.message.product or "—", o.product or "—")
            for o in self.outcomes
            if (o.message.product is not None or not o.message.joins)
            and o.product != o.message.product
        )

    def figures(self, default_team: str) -> dict[str, Any]:
        return {
            "messages": len(self.outcomes),
            "products": len({o.message.product for o in self.named}),
            "product_accuracy": round(self.product_accuracy, 4),
            "team_accuracy": round(self.team_accuracy, 4),
            "wrong_case_joins": self.wrong_case_joins,
            "missed_joins": self.missed_joins,
            "none_to_kcc": round(self.kcc(self.none, default_team), 4),
            "kcc_fallback": round(self.kcc(self.named, default_team), 4),
        }

    def failures(self, default_team: str) -> list[str]:
        """Each threshold the figures miss, as a sentence (empty: the build passes)."""
        f, t = self.figures(default_team), self.thresholds
        checks = [
            ("product accuracy", f["product_accuracy"], t.product_accuracy, True),
            ("team accuracy", f["team_accuracy"], t.team_accuracy, True),
            ("no-product messages to the KCC", f["none_to_kcc"], t.none_to_kcc, True),
            ("KCC fallback", f["kcc_fallback"], t.kcc_fallback, False),
            ("wrong-case joins", f["wrong_case_joins"], t.wrong_case_joins, False),
        ]
        return [
            f"{name}: {value} ({'at least' if floor else 'at most'} {limit})"
            for name, value, limit, floor in checks
            if (value < limit if floor else value > limit)
        ]


def _substitute(text: str, numbers: dict[str, str]) -> str:
    """``{case:<id>}`` in a text: the case number the message ``<id>`` was given."""
    for label, number in numbers.items():
        text = text.replace(f"{{case:{label}}}", number)
    return text


async def evaluate(labelled: LabelledSet, routing: Routing) -> Report:
    """Route the set, one message at a time in order, on a fresh in-memory store."""
    store = FakeRouterStore()
    case_of: dict[str, uuid.UUID] = {}
    numbers: dict[str, str] = {}
    outcomes: list[Outcome] = []
    for n, m in enumerate(labelled.messages):
        now = START + n * STEP
        sender, refs = _sender(m)
        inbound = InboundMessage(
            message_id=uuid.uuid5(uuid.NAMESPACE_URL, f"eval:{m.id}"),
            channel=m.channel,
            received_at=now,
            sender=sender,
            subject=_substitute(m.subject, numbers) if m.subject else None,
            text=_substitute(m.text, numbers),
            product_hint=m.hint,
            thread_refs=refs,
        )
        (routed,) = await route_messages(store, [inbound], routing, now)
        data = routed.events[-1].data
        case_id = uuid.UUID(data["case_id"])
        case_of[m.id], numbers[m.id] = case_id, data["case_number"]
        explanation = data["explanation"]
        joined = explanation["case_rule"] != "new-case"
        expected_case = case_of[m.joins] if m.joins else None
        outcomes.append(
            Outcome(
                message=m,
                expected_team=labelled.expected_team(m),
                product=store.t.cases[case_id]["product"],
                team=data["owner_team"],
                case_rule=explanation["case_rule"],
                joined=joined,
                wrong_join=joined and case_id != expected_case,
                missed_join=expected_case is not None and case_id != expected_case,
                matched=list(explanation.get("matched", [])),
                owner_detail=explanation["owner_detail"],
            )
        )
    return Report(outcomes)


def summary(report: Report, default_team: str) -> list[str]:
    """The figures as lines of text, thresholds beside them (the ops command, the bench, a
    failing test's message)."""
    f, t = report.figures(default_team), report.thresholds
    return [
        f"{f['messages']} labelled messages, {f['products']} products",
        f"product accuracy   {f['product_accuracy']:7.2%}  (at least {t.product_accuracy:.0%})",
        f"team accuracy      {f['team_accuracy']:7.2%}  (at least {t.team_accuracy:.0%})",
        f"wrong-case joins   {f['wrong_case_joins']:7d}  (at most {t.wrong_case_joins})",
        f"missed joins       {f['missed_joins']:7d}  (follow-ups that opened a case of their own)",
        f"no product -> KCC  {f['none_to_kcc']:7.2%}  (at least {t.none_to_kcc:.0%})",
        f"KCC fallback       {f['kcc_fallback']:7.2%}  (at most {t.kcc_fallback:.0%}, of the rest)",
    ]


def misroute_rows(report: Report) -> list[tuple[str, str, int, str]]:
    """The confusion table of misroutes: (expected, routed, count, message ids), most first."""
    ids: dict[tuple[str, str], list[str]] = {}
    for o in report.outcomes:
        key = (o.message.product or "—", o.product or "—")
        ids.setdefault(key, []).append(o.message.id)
    return [(e, r, n, ", ".join(ids[(e, r)][:6])) for (e, r), n in report.misroutes().most_common()]
