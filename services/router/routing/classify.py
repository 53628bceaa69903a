"""Classifying free text to a product: which words of the message decide, and how sure.

Residents rarely write a product's name. They inflect ("containers", "verhuisd"), glue
words together ("restafvalcontainer", "hondebelasting"), misspell ("rijbwijs",
"afvalstofheffing") and name several things at once. Each word of a message is looked up
once (the result is remembered per word, so a message costs a few dictionary lookups):

- exactly, or by its Dutch stem (Snowball, PyStemmer: "containers" -> "container",
  "gekapt" -> "kap");
- as a compound that starts or ends with a keyword of 5 letters or more
  ("evenementenvergunningaanvraag", "papiercontainer"); of all the keywords one word
  matches, only the longest counts ("afvalstoffenheffing" is not also "afval");
- one typo away (keywords of 8+ letters), or a few (words of 12+ letters at least 88 %
  similar to a keyword, rapidfuzz: "afvalstofheffing").

A product's score is the sum over its distinct matched keywords of the keyword's weight
(one of its ``names`` 2, a keyword or its UPL name 1, a ``weak`` keyword 0.3) times the
match's quality (exact or stem 1, compound or one typo 0.9, a few typos 0.8). The best
score wins; on a tie the product the message names first. Below ``CONFIDENT`` (only weak
or distorted words: "kapot", "aanslag", "parkeren") the message goes to the default team
with the candidates listed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import Stemmer  # type: ignore[import-not-found]  # PyStemmer: Snowball in C, no stubs
from rapidfuzz.fuzz import ratio
from rapidfuzz.process import extract

# A score at or above this is a confident product; below it the KCC gets the message.
CONFIDENT = 80  # hundredths (weights and qualities are in tenths: exact sums, exact ties)
COMPOUND_MIN = 5  # letters a keyword needs to be found inside a compound
TYPO_MIN = 8  # letters a word needs before one typo is forgiven ("geveegd" is no "geleegd")
LONG_WORD = 12  # letters a word needs before more typos are forgiven ("verbonden")
SIMILAR = 88  # rapidfuzz ratio (0-100) a long word needs to a long keyword
CACHED_WORDS = 100_000  # words whose matches are remembered
# Weights (docs/routing.md, "Classification").
NAME, KEYWORD, WEAK = 20, 10, 3
EXACT, NEAR, FAR = 10, 9, 8

_WORD = re.compile(r"[a-z0-9]+")
_STEMMER = Stemmer.Stemmer("dutch")


def normalise(text: str) -> str:
    """Lower case, accents removed, punctuation to spaces: 'Evenementen-Vergunning!' ->
    'evenementen vergunning'."""
    if text.isascii():  # most messages: nothing to decompose, casefold is lower
        return " ".join(_WORD.findall(text.lower()))
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_WORD.findall(plain))


def stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


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


@dataclass(frozen=True, eq=False)  # identity: a dictionary key for every hit
class Keyword:
    order: int  # position in the file
    product: int  # index of the product in the file
    words: tuple[str, ...]
    text: str  # as written in the file (the explanation shows it)
    weight: int  # tenths


# A keyword found in a message: (keyword, quality, index of the word). A plain tuple: made
# for every matching word of every message.
Hit = tuple[Keyword, int, int]


def _deletions(word: str) -> set[str]:
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


class KeywordIndex:
    """Finds the keywords in a text without comparing every keyword with every word."""

    def __init__(self, keywords: Sequence[Keyword], never: set[str] | None = None) -> None:
        self.exact: dict[str, list[Keyword]] = {}
        self.stems: dict[str, list[Keyword]] = {}
        self.phrases: dict[str, list[Keyword]] = {}
        self.variants: dict[str, list[Keyword]] = {}
        for kw in keywords:
            if len(kw.words) > 1:
                self.phrases.setdefault(kw.words[0], []).append(kw)
                continue
            (word,) = kw.words
            self.exact.setdefault(word, []).append(kw)
            if len(stem(word)) >= 4:
                self.stems.setdefault(stem(word), []).append(kw)
            if len(word) >= TYPO_MIN:
                for variant in _deletions(word):
                    self.variants.setdefault(variant, []).append(kw)
        self.long_words = sorted(w for w in self.exact if len(w) >= LONG_WORD)
        self._never: dict[str, tuple[tuple[Keyword, int], ...]] = {w: () for w in never or ()}
        self._cache = dict(self._never)
        # Only prefixes/suffixes up to the longest keyword can be keywords: bounds the work
        # per word (a pasted base64 blob, a hostile 100,000-letter "word").
        self.longest = max((len(w) for kw in keywords for w in kw.words), default=0)

    def _compounds(self, token: str) -> dict[int, tuple[Keyword, int]]:
        found: dict[int, tuple[Keyword, int]] = {}
        n = len(token)
        for size in range(COMPOUND_MIN, min(n - 1, self.longest) + 1):
            for part in (token[:size], token[n - size :]):
                for kw in self.exact.get(part, ()):
                    found.setdefault(id(kw), (kw, NEAR))
        return found

    def word_matches(self, token: str) -> tuple[tuple[Keyword, int], ...]:
        """The keywords one word matches, with the match's quality; only the longest."""
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        if token.isdigit():  # house numbers, dates, amounts: never a keyword
            return ()
        found: dict[int, tuple[Keyword, int]] = {
            id(kw): (kw, EXACT) for kw in self.exact.get(token, ())
        }
        if not found and 4 <= len(token) <= self.longest + 3:
            token_stem = stem(token)
            found = {id(kw): (kw, EXACT) for kw in self.stems.get(token_stem, ())}
        if not found and TYPO_MIN - 1 <= len(token) <= self.longest + 1:
            for variant in _deletions(token):
                for kw in self.variants.get(variant, ()):
                    if within_one_edit(token, kw.words[0]):
                        found[id(kw)] = (kw, NEAR)
        typo_free = not found
        if len(token) > COMPOUND_MIN:
            for key, hit in self._compounds(token).items():
                found.setdefault(key, hit)
        # A long word only partly explained by a compound ("afval" in "afvalstofheffing")
        # may still be a longer keyword misspelt: the longest match wins below.
        if typo_free and LONG_WORD <= len(token) <= self.longest + 2:
            for word, _, _ in extract(token, self.long_words, scorer=ratio, score_cutoff=SIMILAR):
                for kw in self.exact[word]:
                    found[id(kw)] = (kw, FAR)
        if found:
            # A word is one thing: "afvalstoffenheffing" is the tax, not also "afval".
            longest = max(len(kw.words[0]) for kw, _ in found.values())
            found = {k: v for k, v in found.items() if len(v[0].words[0]) == longest}
        result = tuple(found.values())
        if len(token) <= self.longest + 2:
            if len(self._cache) >= CACHED_WORDS:  # bounded: start again, the common words
                self._cache = dict(self._never)  # come back at once
            self._cache[token] = result
        return result

    def hits(self, tokens: list[str]) -> list[Hit]:
        found: list[Hit] = []
        covered = -1  # words up to here a phrase used: "bijzondere bijstand" is not bijstand
        phrases, cache = self.phrases, self._cache
        for i, token in enumerate(tokens):
            starting = phrases.get(token)
            if starting is not None:
                for kw in starting:
                    if tuple(tokens[i : i + len(kw.words)]) == kw.words:
                        found.append((kw, EXACT, i))
                        covered = max(covered, i + len(kw.words) - 1)
            if i > covered:
                matches = cache.get(token)
                if matches is None:
                    matches = self.word_matches(token)
                for kw, quality in matches:  # most words match nothing: no list made
                    found.append((kw, quality, i))
        return found


# A product's score in one message: (-score in hundredths, first word's index, product).
# Sorted, the best comes first; on a tie the product named first, then the file's order.
Scored = tuple[int, int, int]


def score(hits: list[Hit]) -> tuple[list[Scored], dict[int, list[Hit]]]:
    """Products by score, best first, and each product's hits (its words)."""
    best: dict[Keyword, Hit] = {}  # keyword -> its best hit (the first of equals)
    for hit in hits:
        seen = best.get(hit[0])
        if seen is None or hit[1] > seen[1]:
            best[hit[0]] = hit
    per: dict[int, list[Hit]] = {}
    for hit in best.values():
        per.setdefault(hit[0].product, []).append(hit)
    ranked = sorted(
        (-sum(kw.weight * q for kw, q, _ in found), min(h[2] for h in found), p)
        for p, found in per.items()
    )
    return ranked, per


def words(found: list[Hit]) -> tuple[str, ...]:
    """The keywords as the file writes them, in the file's order (the explanation)."""
    return tuple(h[0].text for h in sorted(found, key=_order))


def _order(hit: Hit) -> int:
    return hit[0].order
