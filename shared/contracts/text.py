"""Text fields of contracts: what PostgreSQL can store and JSON can carry, within set lengths.

PostgreSQL's ``text`` (and ``jsonb``) cannot hold NUL (U+0000), and a lone UTF-16
surrogate (U+D800-U+DFFF: Python's ``json`` module lets ``"\\ud800"`` through) is not
a character at all: neither can be encoded as UTF-8, stored or published. A field
typed with these annotations refuses them when the model is validated, so a command
is refused where it is made (caseview, 422) and again where it is carried out (the
router answers ``command.rejected``), never by a database error and a dead letter.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

# Lengths the router's columns hold (services/router/orm.py: teams String(64), users
# String(200)); reasons and texts go to Text columns and the timeline's JSON.
TEAM_MAX = 64
USER_MAX = 200
REASON_MAX = 2000
TEXT_MAX = 20_000

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str) -> str:
    """``value`` unchanged, or a validation error of type ``unstorable_text``."""
    if _UNSTORABLE.search(value) is not None:
        raise PydanticCustomError(
            "unstorable_text",
            "contains a character that cannot be stored (NUL or a lone surrogate)",
        )
    return value


def scrubbed(value: str, limit: int = REASON_MAX) -> str:
    """``value`` with unstorable characters replaced (U+FFFD) and cut to ``limit``: for text
    made from input, such as a rejection's reason quoting a team name."""
    return _UNSTORABLE.sub("\ufffd", value)[:limit]


def not_blank(value: str) -> str:
    """``value`` unchanged, or a validation error of type ``blank_text``."""
    if not value.strip():
        raise PydanticCustomError("blank_text", "must contain more than white space")
    return value


TeamId = Annotated[str, Field(min_length=1, max_length=TEAM_MAX), AfterValidator(storable)]
UserId = Annotated[str, Field(min_length=1, max_length=USER_MAX), AfterValidator(storable)]
Reason = Annotated[
    str,
    Field(min_length=1, max_length=REASON_MAX),
    AfterValidator(storable),
    AfterValidator(not_blank),
]
OptionalReason = Annotated[str, Field(max_length=REASON_MAX), AfterValidator(storable)]
LongText = Annotated[
    str,
    Field(min_length=1, max_length=TEXT_MAX),
    AfterValidator(storable),
    AfterValidator(not_blank),
]
