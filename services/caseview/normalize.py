"""Normalising names, products and identifiers the same way for writing and searching."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import phonenumbers

from shared.contracts import IdentifierKind

_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^\w\s]")


def fold(text: str) -> str:
    """Casefolded, accents stripped, punctuation to spaces, single spaces: 'Émile  D'Hondt' ->
    'emile d hondt'."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", stripped.casefold())).strip()


def name_keys(name: str | None, *, limit: int = 200) -> list[str]:
    """Every word start of a folded name, so a prefix search finds first and last names."""
    if not name:
        return []
    words = fold(name).split(" ")
    keys = {" ".join(words[i:])[:limit] for i in range(len(words)) if words[i]}
    return sorted(keys)


def like_prefix(prefix: str) -> str:
    """A LIKE pattern for 'starts with', with the wildcards of the input escaped (ESCAPE '\\')."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def identifier(kind: IdentifierKind, value: str) -> str:
    """The form identifiers are stored in: digits for BSN/KvK, lower-case e-mail, E.164 phone."""
    value = value.strip()
    if kind in (IdentifierKind.BSN, IdentifierKind.KVK):
        return re.sub(r"[\s.\-]", "", value)
    if kind is IdentifierKind.EMAIL:
        return value.lower()
    if kind is IdentifierKind.PHONE:
        try:
            number = phonenumbers.parse(value, "NL")
        except phonenumbers.NumberParseException:
            return value
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return value


def is_confidential_product(product: str | None, terms: Sequence[str]) -> bool:
    if not product:
        return False
    return _confidential(product, tuple(terms))


@lru_cache(maxsize=4096)
def _confidential(product: str, terms: tuple[str, ...]) -> bool:
    # Cached: the need-to-know check runs for every entry of every page read.
    folded = fold(product)
    return any(fold(term) in folded for term in terms if term.strip())


_POSTCODE = re.compile(r"(?<!\d)(\d{4})\s?([A-Za-z]{2})(?![A-Za-z])")
_HOUSE = re.compile(r"\b(\d{1,5})(?:\s?-?\s?([A-Za-z]{1,2}\b|\d{1,4}\b))?")


def postcode_house(value: str) -> tuple[str, str] | None:
    """A search for postcode + house number ('1234 ab 12', '1234AB12') -> ('1234AB', '12');
    the house number's letter or addition is ignored: the same house, as a KCC employee means
    it. None if there is no postcode and number."""
    found = _POSTCODE.search(value)
    if found is None:
        return None
    number = re.search(r"\d{1,5}", value[found.end() :])
    if number is None:
        return None
    return f"{found[1]}{found[2].upper()}", str(int(number[0]))


def address_key(address: str) -> tuple[str, str | None] | None:
    """Postcode and house number of a postal address as written ('Kerkstraat 1a, 1234 AB
    Dorp' -> ('1234AB', '1')): the house number is the last number before the postcode."""
    found = _POSTCODE.search(address)
    if found is None:
        return None
    numbers = _HOUSE.findall(address[: found.start()])
    return f"{found[1]}{found[2].upper()}", str(int(numbers[-1][0])) if numbers else None
