"""Keyset cursors and capped counts: what every list in the API pages with.

A cursor is opaque to clients (base64 of a small JSON list tagged with its list's kind),
so a cursor of one list is refused by another (400), and a forged one never reaches SQL.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

MAX_BIGINT = 2**63 - 1


class Out(BaseModel):
    """The base of every response model: frozen."""

    model_config = ConfigDict(frozen=True)


def out_json(document: Any) -> bytes:
    """A response written straight from its fields (dicts in the model's field order): the
    bytes the ``Out`` model would write, without a model per row (the tests hold the two
    equal per answer: tests/unit/test_caseview_read_json.py, ..._timeline_json.py)."""
    return orjson.dumps(document, option=orjson.OPT_UTC_Z, default=_uuid_text)


def _uuid_text(value: Any) -> str:
    # asyncpg's own UUID type is a uuid.UUID, but not one orjson knows.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(type(value).__name__)


def utc(value: datetime) -> datetime:
    """An aware datetime in UTC; ValueError for naive ones or ones UTC cannot hold."""
    if value.tzinfo is None:
        raise ValueError("a time zone is required")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("out of range") from exc


def encode(kind: str, payload: list[Any]) -> str:
    raw = orjson.dumps([kind, *payload])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, kind: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = orjson.loads(raw)
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise ValueError("not a cursor") from exc
    if not isinstance(doc, list) or not doc or doc[0] != kind:
        raise ValueError("not a cursor of this list")
    return doc[1:]


@dataclass(frozen=True, order=True)
class TimelineKey:
    """A position in a history: (sort_at, party_id, sequence), newest first."""

    sort_at: datetime
    party_id: uuid.UUID
    sequence: int

    def encode(self) -> str:
        return encode("t", [self.sort_at.isoformat(), str(self.party_id), self.sequence])

    @classmethod
    def decode(cls, cursor: str) -> TimelineKey:
        try:
            at, party, seq = decode(cursor, "t")
            key = cls(utc(datetime.fromisoformat(at)), uuid.UUID(party), int(seq))
        except Exception as exc:  # whatever a forged cursor holds, it is a 400
            raise ValueError("not a timeline cursor") from exc
        if not 0 <= key.sequence <= MAX_BIGINT:
            raise ValueError("not a timeline cursor")
        return key


@dataclass(frozen=True)
class QueueKey:
    at: datetime
    case_id: uuid.UUID

    def encode(self, sort: str) -> str:
        return encode("q" + sort, [self.at.isoformat(), str(self.case_id)])

    @classmethod
    def decode(cls, cursor: str, sort: str) -> QueueKey:
        try:
            at, case_id = decode(cursor, "q" + sort)
            return cls(utc(datetime.fromisoformat(at)), uuid.UUID(case_id))
        except Exception as exc:  # whatever a forged cursor holds, it is a 400
            raise ValueError("not a queue cursor") from exc


class Count(Out):
    """A count that stops at a cap, so counting stays fast on any history."""

    value: int = Field(ge=0)
    capped: bool = Field(description="True when there are more than 'value' (the cap).")


async def capped_count(session: AsyncSession, query: Select[Any], cap: int) -> Count:
    n = int(
        await session.scalar(select(func.count()).select_from(query.limit(cap + 1).subquery())) or 0
    )
    return Count(value=min(n, cap), capped=n > cap)
