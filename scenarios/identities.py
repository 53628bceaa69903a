"""Fresh identifiers per run for the stand-ins of a scenario file."""

from __future__ import annotations

import secrets

import phonenumbers


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
