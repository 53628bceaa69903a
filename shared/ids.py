"""Identifiers: time-ordered UUIDv7 for everything the system creates."""

from __future__ import annotations

import random
import time
import uuid

_last = 0
_random = random.Random()  # noqa: S311 - uniqueness, not secrecy: ids are not secrets


def new_id() -> uuid.UUID:
    """A new UUIDv7 (RFC 9562): unique, and sortable by creation time (design §3).

    48 bits of Unix milliseconds, then 12 bits of sub-millisecond time (RFC 9562 §6.2,
    method 3) so ids made by one process are strictly increasing, then 62 random bits
    (incremented instead when the clock has not moved on).
    The router makes one for every event it publishes: this is several times cheaper
    than a general-purpose implementation drawing from ``secrets`` bit by bit."""
    global _last
    ns = time.time_ns()
    ms, sub = divmod(ns, 1_000_000)
    rand = _random.getrandbits(62)
    value = (ms << 80) | (0x7 << 76) | ((sub * 4096 // 1_000_000) << 64) | (0b10 << 62) | rand
    if value <= _last:  # same clock tick (or the clock stepped back): stay increasing
        value = _last + 1  # in the 62 random bits; they cannot overflow in practice
    _last = value
    return uuid.UUID(int=value)
