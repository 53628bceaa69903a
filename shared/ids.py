"""Identifiers: time-ordered UUIDv7 for everything the system creates."""

from __future__ import annotations

import uuid

from uuid6 import uuid7


def new_id() -> uuid.UUID:
    """A new UUIDv7: unique, and sortable by creation time (design §3)."""
    return uuid.UUID(bytes=uuid7().bytes)
