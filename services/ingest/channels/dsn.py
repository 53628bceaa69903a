"""Delivery status notifications (RFC 3464) that come back to a reply's bounce address.

A DSN is ``multipart/report; report-type=delivery-status`` holding a human-readable
part, a ``message/delivery-status`` part (one block of per-message fields, then one
block per recipient: ``Action``, ``Status``, ``Diagnostic-Code``) and usually the
returned message or its headers. Read with the standard library; anything that is not
a DSN (an auto-reply, a vacation notice, spam) is ``None``: mail to a bounce address
is never a resident's message.
"""

from __future__ import annotations

import base64
import quopri
import re
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser, HeaderParser

from shared.contracts.outbound import ReplyStatus

_STATUS_PARTS = ("message/delivery-status", "message/global-delivery-status")  # RFC 3464, 6533
_STATUS_CODE = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
_BLANKS = re.compile(r"[\s\x00-\x1f\x7f]+")  # folded lines and control characters
_REASON_CHARS = 500


@dataclass(frozen=True)
class RecipientStatus:
    """One per-recipient block: what the reporting mail server did with the message."""

    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # the enhanced status code (RFC 3463), e.g. 5.1.1
    diagnostic: str | None

    @property
    def reason(self) -> str:
        return f"{self.status} {self.diagnostic}" if self.diagnostic else self.status


@dataclass(frozen=True)
class DeliveryStatusNotification:
    recipients: tuple[RecipientStatus, ...]

    def outcome(self) -> tuple[ReplyStatus | None, str | None]:
        """The reply's next status and its reason; ``None`` for a report that changes
        nothing (delayed: the server still tries; relayed, expanded: no word on delivery).

        ``failed`` is final whatever its status class (RFC 3464 2.3.3: the server will
        not try again; a 4.4.7 "delivery time expired" is a bounce as much as a 5.1.1)."""
        for action in ("failed", "delivered"):
            hit = next((r for r in self.recipients if r.action == action), None)
            if hit is not None:
                status = ReplyStatus.BOUNCED if action == "failed" else ReplyStatus.DELIVERED
                return status, hit.reason
        return None, None

    @property
    def delayed(self) -> bool:
        return any(r.action == "delayed" for r in self.recipients)


def _field(block: Message, name: str) -> str | None:
    value = block.get(name)
    if value is None:
        return None
    text = _BLANKS.sub(" ", str(value)).strip()
    return text[:_REASON_CHARS] or None


def _blocks(part: Message) -> list[Message]:
    """The field blocks of a delivery-status part. The parser splits a plain part itself;
    an encoded one (base64, quoted-printable: rare, but seen) it splits as if it were
    plain, so its text is put back together, decoded and split here."""
    payload = part.get_payload()
    blocks = [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []
    encoding = str(part.get("Content-Transfer-Encoding") or "").strip().lower()
    if encoding not in ("base64", "quoted-printable"):
        return blocks
    encoded = "\n\n".join(b.as_string().lstrip("\n") for b in blocks) or str(payload)
    data = (
        base64.b64decode(encoded.encode("ascii", "ignore"))
        if encoding == "base64"
        else quopri.decodestring(encoded.encode("utf-8", "replace"))
    )
    chunks = re.split(r"\r?\n[ \t]*\r?\n", data.decode("utf-8", errors="replace").strip())
    return [HeaderParser(policy=policy.compat32).parsestr(c) for c in chunks if c.strip()]


def _recipient(block: Message) -> RecipientStatus | None:
    action = (_field(block, "Action") or "").lower()
    status = _STATUS_CODE.search(_field(block, "Status") or "")
    if not action or status is None:
        return None  # the per-message block, or a block that says nothing
    return RecipientStatus(action, status.group(), _field(block, "Diagnostic-Code"))


def parse_dsn(raw: bytes) -> DeliveryStatusNotification | None:
    """The DSN in ``raw``, or ``None`` when it is not one (or not readable as one)."""
    try:
        msg = BytesParser(policy=policy.compat32).parsebytes(raw)
        if msg.get_content_type() != "multipart/report":
            return None
        if str(msg.get_param("report-type") or "").lower() != "delivery-status":
            return None
        parts = [p for p in msg.walk() if p.get_content_type() in _STATUS_PARTS]
        if not parts:
            return None
        found = (_recipient(b) for b in _blocks(parts[0]))
        recipients = tuple(r for r in found if r is not None)
    except Exception:  # hostile MIME: the stdlib parser has rare crashes; not a DSN then
        return None
    return DeliveryStatusNotification(recipients) if recipients else None
