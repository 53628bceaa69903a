"""The addresses replies are sent with: ``antwoord+<token>@…`` (Reply-To) and
``bounces+<token>@…`` (the envelope sender, where DSNs come back).

The token is ``shared.contracts.outbound.reply_token``: 26 characters of base32. It is
no secret in the sense of a password (it only threads an answer onto a case), but it
is tied to a resident's reply, so logs name messages by id, never by token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

# Base32 without padding: 128 bits are 26 characters. Mail servers may change a local
# part's case on the way; base32 is case-free, so the token is read case-insensitively.
_TOKEN = re.compile(r"[a-z2-7]{26}")


class ReplyMailbox(StrEnum):
    ANSWER = "antwoord"  # the resident answers a reply
    BOUNCES = "bounces"  # a mail server reports on a reply (DSN)


def _tag(address: str, mailbox: ReplyMailbox) -> str | None:
    """What follows the ``+`` in ``<mailbox>+<tag>@domain``, else ``None``."""
    local = address.strip().strip("<>").rpartition("@")[0]
    base, plus, tag = local.partition("+")
    return tag if plus and base.lower() == mailbox.value else None


def is_reply_mailbox(address: str, mailbox: ReplyMailbox) -> bool:
    """``<mailbox>+<anything>@…``: the mailbox's address, whatever follows the ``+``."""
    return _tag(address, mailbox) is not None


def token_of(address: str, mailbox: ReplyMailbox) -> str | None:
    """The well-formed token of ``<mailbox>+<token>@domain``, else ``None`` (anything else
    after the ``+`` is ignored: no token, no thread)."""
    tag = _tag(address, mailbox)
    token = None if tag is None else tag.lower()
    return token if token is not None and _TOKEN.fullmatch(token) else None


def tokens_of(addresses: Iterable[str], mailbox: ReplyMailbox) -> list[str]:
    """The distinct well-formed tokens among ``addresses``, in their order."""
    found = (token_of(a, mailbox) for a in addresses)
    return list(dict.fromkeys(t for t in found if t is not None))
