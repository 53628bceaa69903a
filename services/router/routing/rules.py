"""Loading and validating the routing file, and classifying free text to a product.

Pure logic apart from reading the file. A bad file raises ``RoutingFileError``
with a message that names what is wrong, and the router refuses to start.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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
    keywords: list[str] = Field(min_length=1)


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
    holidays: list[date] = Field(default_factory=list)
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
            if p.upl in seen:
                problems.append(f"products[{n}]: '{p.upl}' appears twice")
            seen.add(p.upl)
        if problems:
            raise ValueError("; ".join(problems))
        return self


_WORD = re.compile(r"[a-z0-9]+")


def normalise(text: str) -> str:
    """Lower case, accents removed, punctuation to spaces: 'Evenementen-Vergunning!' ->
    'evenementen vergunning'."""
    if text.isascii():  # most messages: nothing to decompose, casefold is lower
        return " ".join(_WORD.findall(text.lower()))
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_WORD.findall(plain))


def within_one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance ≤ 1 (a typo: one letter wrong, missing, extra, swapped)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


@dataclass(frozen=True)
class ProductMatch:
    product: ProductRule | None
    rule: str  # "product-hint" | "keywords" | "no-match"
    matched: tuple[str, ...]


@dataclass(frozen=True)
class _Keyword:
    order: int  # position in the file: ties go to the product listed first
    product: int
    words: tuple[str, ...]
    text: str


# Keywords this long also match compounds that start with them and words one typo away.
FUZZY_MIN = 6


def _deletions(word: str) -> set[str]:
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


class _KeywordIndex:
    """Finds the keywords in a text without comparing every keyword with every word:
    exact words by dictionary, compounds by their prefixes, typos through a
    one-deletion index (two words one edit apart share a one-deletion variant)."""

    def __init__(self, keywords: list[_Keyword]) -> None:
        self.exact: dict[str, list[_Keyword]] = {}
        self.phrases: dict[str, list[_Keyword]] = {}
        self.variants: dict[str, list[_Keyword]] = {}
        for kw in keywords:
            if len(kw.words) > 1:
                self.phrases.setdefault(kw.words[0], []).append(kw)
                continue
            (word,) = kw.words
            self.exact.setdefault(word, []).append(kw)
            if len(word) >= FUZZY_MIN:
                for variant in _deletions(word):
                    self.variants.setdefault(variant, []).append(kw)
        self._cache: dict[str, tuple[_Keyword, ...]] = {}
        # Only prefixes up to the longest keyword can be keywords, and only words at most
        # one letter longer can be a typo of one: bounds the work per word, which was
        # quadratic in its length (a pasted base64 blob, a hostile 100,000-letter "word").
        self.longest = max((len(w) for kw in keywords for w in kw.words), default=0)

    def word_matches(self, token: str) -> tuple[_Keyword, ...]:
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        found: dict[int, _Keyword] = {id(kw): kw for kw in self.exact.get(token, ())}
        if len(token) >= FUZZY_MIN:
            for end in range(FUZZY_MIN, min(len(token), self.longest + 1)):
                for kw in self.exact.get(token[:end], ()):
                    if len(kw.words[0]) >= FUZZY_MIN:
                        found[id(kw)] = kw
        if FUZZY_MIN - 1 <= len(token) <= self.longest + 1:
            for variant in _deletions(token):
                for kw in self.variants.get(variant, ()):
                    if within_one_edit(token, kw.words[0]):
                        found[id(kw)] = kw
        result = tuple(found.values())
        if len(self._cache) < 100_000 and len(token) <= self.longest + 1:
            self._cache[token] = result
        return result

    def matches(self, tokens: list[str]) -> list[_Keyword]:
        found: dict[int, _Keyword] = {}
        for i, token in enumerate(tokens):
            for kw in self.word_matches(token):
                found[id(kw)] = kw
            for kw in self.phrases.get(token, ()):
                if tuple(tokens[i : i + len(kw.words)]) == kw.words:
                    found[id(kw)] = kw
        return list(found.values())


class Routing:
    """The validated rule set, with the lookups the router needs."""

    def __init__(self, spec: RoutingFile) -> None:
        self.spec = spec
        self.version = spec.version
        self.default_team = spec.default_team
        self._by_upl = {p.upl: p for p in spec.products}
        listed = [
            (n, words, k)
            for n, p in enumerate(spec.products)
            for k, words in {
                k: tuple(normalise(k).split()) for k in dict.fromkeys([p.upl, *p.keywords])
            }.items()
            if words
        ]
        self._keywords = [_Keyword(i, n, words, k) for i, (n, words, k) in enumerate(listed)]
        self._index = _KeywordIndex(self._keywords)
        self._holidays = frozenset(spec.holidays)

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
                return ProductMatch(hinted.product, "product-hint", hinted.matched)
        return self._score(normalise(text).split())

    def _score(self, tokens: list[str]) -> ProductMatch:
        scores: dict[int, list[str]] = {}
        for kw in sorted(self._index.matches(tokens), key=lambda kw: kw.order):
            scores.setdefault(kw.product, []).append(kw.text)
        if not scores:
            return ProductMatch(None, "no-match", ())
        # Most keywords matched wins; on a tie the product listed first in the file.
        best = min(scores, key=lambda n: (-len(scores[n]), n))
        return ProductMatch(self.spec.products[best], "keywords", tuple(scores[best]))

    def owner_of(self, product: ProductRule | None) -> str:
        return product.owner if product is not None else self.default_team

    def due_at(self, *, start: datetime, channel: Channel, product: ProductRule | None) -> datetime:
        """The product's norm if it has one, else the channel's, else the default; counted in
        working days (no weekends, no holidays in the file)."""
        norms = self.spec.service_norms
        days = (product.norm_days if product else None) or norms.channels.get(
            channel, norms.default
        )
        return add_working_days(start, days, self._holidays)


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
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoutingFileError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise RoutingFileError(f"{path}: not valid YAML: {exc}") from exc
    try:
        spec = RoutingFile.model_validate(raw)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<file>'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise RoutingFileError(f"{path}: {details}") from exc
    known = upl if upl is not None else load_upl_names()
    unknown = [p.upl for p in spec.products if p.upl not in known]
    if unknown:
        raise RoutingFileError(
            f"{path}: not municipal products of the UPL: {', '.join(unknown)} "
            "(see services/router/routing/upl-gemeente.csv)"
        )
    return Routing(spec)
