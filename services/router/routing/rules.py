"""Loading and validating the routing file, and what the router asks of it: the product of
a text (scored in ``classify.py``), whether a message refers back, owners, due dates.

Pure logic apart from reading the file. A bad file raises ``RoutingFileError``
with a message that names what is wrong, and the router refuses to start.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path

import holidays
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.router.routing.classify import (
    CONFIDENT,
    KEYWORD,
    NAME,
    WEAK,
    Keyword,
    KeywordIndex,
    normalise,
    score,
    words,
)
from shared.config_file import read_yaml_model
from shared.contracts import Channel

HERE = Path(__file__).parent
DEFAULT_FILE = HERE / "default.yaml"
UPL_FILE = HERE / "upl-gemeente.csv"


class RoutingFileError(ValueError):
    pass


class ServiceNorms(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default: int = Field(ge=1, le=365)
    channels: dict[Channel, int] = Field(default_factory=dict)


class ProductRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    upl: str
    owner: str
    confidential: bool = False
    norm_days: int | None = Field(default=None, ge=1, le=365)
    # What the product is called (a synonym of the UPL name: "id-kaart", "kliko"): weigh
    # most. Keywords decide it; weak words only help (docs/routing.md, "Classification").
    names: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    # Words that point to the product but are not enough on their own ("kapot", "aanslag"):
    # they add to its score and decide between products, alone they give candidates only.
    weak: list[str] = Field(default_factory=list)


class RoutingFile(BaseModel):
    """The file as written (see docs/routing.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1)
    default_team: str
    case_window_days: int = Field(default=30, ge=0, le=3650)
    teams: dict[str, str] = Field(min_length=1)
    # Teams whose cases are confidential whatever their product (the social domain): a
    # case owned by, or handed over to, one of them shows its contents to need-to-know only.
    confidential_teams: list[str] = Field(default_factory=list)
    service_norms: ServiceNorms
    # The municipality's own closing days; public holidays come from the ``holidays``
    # package for ``public_holidays`` (a country code; null: none), except the ones named in
    # ``open_on`` (as the package names them in Dutch, e.g. "Goede vrijdag").
    holidays: list[date] = Field(default_factory=list)
    public_holidays: str | None = "NL"
    open_on: list[str] = Field(default_factory=list)
    # Words that make a message without a product a follow-up of the sender's most recent
    # open case ("zoals ik eerder schreef", "aanvulling"); without them it is a new question.
    follow_up: list[str] = Field(default_factory=list)
    # Common words never read as a keyword, however close to one ("trouwens" ~ "trouwen").
    not_keywords: list[str] = Field(default_factory=list)
    products: list[ProductRule]

    @model_validator(mode="after")
    def _consistent(self) -> RoutingFile:
        problems = []
        if self.default_team not in self.teams:
            problems.append(f"default_team '{self.default_team}' is not under teams")
        problems += [
            f"confidential_teams: '{t}' is not under teams"
            for t in self.confidential_teams
            if t not in self.teams
        ]
        seen: set[str] = set()
        for n, p in enumerate(self.products):
            if p.owner not in self.teams:
                problems.append(f"products[{n}] ({p.upl}): owner '{p.owner}' is not under teams")
            if not p.names and not p.keywords:
                problems.append(f"products[{n}] ({p.upl}): no names and no keywords")
            if p.upl in seen:
                problems.append(f"products[{n}]: '{p.upl}' appears twice")
            seen.add(p.upl)
        if self.public_holidays is not None:
            try:
                public_holidays(self.public_holidays, ())
            except NotImplementedError:
                problems.append(f"public_holidays: no holidays known for '{self.public_holidays}'")
        if problems:
            raise ValueError("; ".join(problems))
        return self


# Years whose public holidays are known to the router (imported history included).
HOLIDAY_YEARS = range(1990, 2071)


@functools.lru_cache(maxsize=8)
def public_holidays(country: str, open_on: tuple[str, ...]) -> frozenset[date]:
    """The country's public holidays (the ``holidays`` package, Dutch names), except those
    the municipality is open on."""
    known = holidays.country_holidays(country, years=HOLIDAY_YEARS, language="nl")
    return frozenset(d for d, name in known.items() if not set(name.split("; ")) <= set(open_on))


@dataclass(frozen=True)
class ProductMatch:
    product: ProductRule | None
    rule: str  # "product-hint" | "keywords" | "low-confidence" | "no-match"
    matched: tuple[str, ...]
    # Other products the message names (several questions in one), or, when it is not sure
    # enough ("low-confidence"), the products it might be: (UPL name, the words that named it).
    others: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def candidate_products(self) -> tuple[str, ...]:
        return tuple(upl for upl, _ in self.others)

    @property
    def candidates(self) -> tuple[str, ...]:
        """As the explanation shows them: "<upl> (<words>)"."""
        return tuple(f"{upl} ({', '.join(w)})" for upl, w in self.others)


class Routing:
    """The validated rule set, with the lookups the router needs."""

    def __init__(self, spec: RoutingFile) -> None:
        self.spec = spec
        self.version = spec.version
        self.default_team = spec.default_team
        self._by_upl = {p.upl: p for p in spec.products}
        keywords: list[Keyword] = []
        for n, p in enumerate(spec.products):
            weighted = {p.upl: KEYWORD} | {k: WEAK for k in p.weak}
            weighted |= {k: KEYWORD for k in p.keywords} | {k: NAME for k in p.names}
            seen: set[tuple[str, ...]] = set()  # "id-kaart" and "id kaart" are one keyword
            for k, weight in sorted(weighted.items(), key=lambda kw: -kw[1]):
                words = tuple(normalise(k).split())
                if words and words not in seen:
                    seen.add(words)
                    keywords.append(Keyword(len(keywords), n, words, k, weight))
        self._index = KeywordIndex(keywords, {normalise(w) for w in spec.not_keywords})
        self._follow_up = [tuple(normalise(f).split()) for f in spec.follow_up]
        public = (
            public_holidays(spec.public_holidays, tuple(spec.open_on))
            if spec.public_holidays
            else frozenset()
        )
        self.closed_days = frozenset(spec.holidays) | public

    @cached_property
    def teams(self) -> frozenset[str]:
        return frozenset(self.spec.teams)

    def product(self, upl: str | None) -> ProductRule | None:
        return None if upl is None else self._by_upl.get(upl)

    def classify(self, *, hint: str | None, text: str) -> ProductMatch:
        """Product hint first (a UPL name or a keyword), then the words of the text."""
        if hint:
            by_name = self._by_upl.get(hint.strip().lower())
            if by_name is not None:
                return ProductMatch(by_name, "product-hint", (hint,))
            hinted = self._score(normalise(hint).split())
            if hinted.product is not None:
                return replace(hinted, rule="product-hint")
        return self._score(normalise(text).split())

    def _score(self, tokens: list[str]) -> ProductMatch:
        ranked, per = score(self._index.hits(tokens))
        if not ranked:
            return ProductMatch(None, "no-match", ())
        products = self.spec.products
        (negative, _, best), rest = ranked[0], ranked[1:4]
        if -negative < CONFIDENT:
            # Only weak or distorted words: a person decides, with the candidates in view.
            listed = [(products[p].upl, words(per[p])) for _, _, p in ranked[:3]]
            matched = tuple(w for _, found in listed for w in found)
            return ProductMatch(None, "low-confidence", matched, tuple(listed))
        others = tuple((products[p].upl, words(per[p])) for n, _, p in rest if -n >= CONFIDENT)
        return ProductMatch(products[best], "keywords", words(per[best]), others)

    def owner_of(self, product: ProductRule | None) -> str:
        return product.owner if product is not None else self.default_team

    def reads_as_follow_up(self, subject: str | None, text: str) -> bool:
        """Whether a message refers back to an earlier one (a reply's subject, or one of
        the ``follow_up`` phrases): only then may it join the sender's most recent case
        without naming its product."""
        if subject and subject.lstrip().lower().startswith(("re:", "antw:", "aw:")):
            return True
        words = normalise(f"{subject or ''}\n{text}").split()
        firsts = set(words)
        for phrase in self._follow_up:
            if phrase[0] not in firsts:
                continue
            for i, word in enumerate(words):
                if word == phrase[0] and tuple(words[i : i + len(phrase)]) == phrase:
                    return True
        return False

    def due_at(
        self,
        *,
        start: datetime,
        channel: Channel,
        product: ProductRule | None,
        received: datetime | None = None,
    ) -> datetime:
        """The product's norm if it has one, else the channel's, else the default; counted in
        working days (no weekends, no public holidays, no closing days of the file) from
        ``start``: when the resident sent the message. ``received``: when the municipality
        had it; a sent time later than that (a wrong clock) counts from receipt."""
        norms = self.spec.service_norms
        days = (product.norm_days if product else None) or norms.channels.get(
            channel, norms.default
        )
        if received is not None and start > received:
            start = received
        return add_working_days(start, days, self.closed_days)


def add_working_days(start: datetime, days: int, holidays: frozenset[date]) -> datetime:
    return start + timedelta(days=_calendar_days(start.date(), days, holidays))


@functools.lru_cache(maxsize=4096)
def _calendar_days(start: date, days: int, holidays: frozenset[date]) -> int:
    """Calendar days from ``start`` to the ``days``-th working day after it (the same for
    every message of a day: remembered, it was a few per cent of the router's CPU)."""
    current, elapsed, left = start, 0, days
    while left > 0:
        current += timedelta(days=1)
        elapsed += 1
        if current.weekday() < 5 and current not in holidays:
            left -= 1
    return elapsed


def load_upl_names(path: Path = UPL_FILE) -> frozenset[str]:
    with path.open(newline="", encoding="utf-8") as f:
        return frozenset(row["name"] for row in csv.DictReader(f))


def load_routing(path: Path = DEFAULT_FILE, upl: frozenset[str] | None = None) -> Routing:
    """Read and validate a routing file; every product must be a municipal UPL product."""
    spec = read_yaml_model(path, RoutingFile, RoutingFileError)
    known = upl if upl is not None else load_upl_names()
    unknown = [p.upl for p in spec.products if p.upl not in known]
    if unknown:
        raise RoutingFileError(
            f"{path}: not municipal products of the UPL: {', '.join(unknown)} "
            "(see services/router/routing/upl-gemeente.csv)"
        )
    return Routing(spec)
