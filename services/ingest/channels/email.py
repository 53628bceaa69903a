"""E-mail: a raw RFC 5322 message, from the mail gateway over HTTP or from the SMTP receiver.

Parsed with the standard library (``email``, ``policy.default``): RFC 2047
headers, RFC 2231 file names, quoted-printable and base64, any charset Python
knows. The text comes from the plain-text body when there is one, otherwise
from the HTML body reduced to text; every other part (files, inline images,
forwarded messages) is an attachment. What the sender states is ``claimed``:
an e-mail address proves nothing.

Internationalised mail (RFC 6532, SMTPUTF8) has raw UTF-8 in its headers; the
parser keeps raw bytes as surrogate escapes, which are decoded here (UTF-8, else
Windows-1252 in a display name; an address that is not UTF-8 is refused).

The From address has *evidence* only when a mail gateway the municipality trusts
says so (``from_evidence``): its own Authentication-Results header (RFC 8601)
with dmarc=pass for the From domain. Nothing else in the message counts: a sender
can write any header, and ``Sender`` never stands in for ``From``.
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from typing import Any

# Re-exported: the channel is read as one module (``email.from_evidence``).
from services.ingest.channels.email_evidence import from_evidence as from_evidence
from services.ingest.channels.html_text import html_to_text
from services.ingest.rejections import Reason
from shared.attachments import Blob
from shared.contracts import (
    Channel,
    Evidence,
    IdentifierKind,
    InboundMessage,
)
from shared.contracts.inbound import AttachmentRef
from shared.contracts.outbound import REPLY_REF_PREFIX
from shared.identifiers import sender_identifiers

# Structural damage after which the parser's view of the message is not the
# sender's (parts lost or merged): refuse rather than publish a wrong message.
_FATAL_DEFECTS = {
    "MissingHeaderBodySeparatorDefect",
    "StartBoundaryNotFoundDefect",
    "NoBoundaryInMultipartDefect",
    "MultipartInvariantViolationDefect",
    "InvalidBase64LengthDefect",
    "InvalidMultipartContentTransferEncodingDefect",
}
_MESSAGE_ID = re.compile(r"<([^<>\s]{1,995})>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HEADER_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_C1 = re.compile(r"[\x80-\x9f]")
_ESCAPED = re.compile(r"[\udc80-\udcff]+")  # raw 8-bit header bytes, as the parser keeps them
_MAX_REFERENCES = 50
# Defects of a From header that still say what the sender meant: raw UTF-8 (RFC 6532).
# Any other defect (``a@example.nl b@elders.example``) may be read otherwise by the
# gateway that checked DMARC, so the address gets no evidence.
_HARMLESS_FROM_DEFECTS = {"UndecodableBytesDefect", "NonASCIILocalPartDefect"}


class _RememberingPolicy(EmailPolicy):
    """``policy.default``, remembering parsed header values.

    ``EmailMessage`` parses a header again on every access, and reading one message asks
    for Content-Type many times (``get_body``, ``get_content_type``, the charset, the
    disposition); the same From, To and Content-Type values also come back message after
    message. Parsing headers was the largest part of ingest's CPU per e-mail (round 4 in
    docs/benchmarks.md). Header objects are immutable, so sharing one is safe."""

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if hasattr(value, "name") or len(value) > _REMEMBERED_VALUE_CHARS:
            return super().header_fetch_parse(name, value)
        return _parsed_header(self, name, value)


_REMEMBERED_VALUE_CHARS = 512  # with maxsize below: ~8 MiB at most (a parsed header is ~15 KiB)


@functools.lru_cache(maxsize=512)
def _parsed_header(parsing: EmailPolicy, name: str, value: str) -> Any:
    return EmailPolicy.header_fetch_parse(parsing, name, value)


_POLICY = _RememberingPolicy()


class EmailRefusedError(Exception):
    """The message cannot be accepted as sent. ``reason`` is a metric label."""

    reason = Reason.INVALID
    http_status = 422
    smtp_reply = "554 5.6.0 Message content rejected"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class MalformedEmailError(EmailRefusedError):
    """Not a parseable RFC 5322 message (NUL bytes, absurd headers, broken MIME)."""

    reason = Reason.MALFORMED
    http_status = 400


class HeaderInjectionError(MalformedEmailError):
    reason = Reason.HEADER_INJECTION


@dataclass(frozen=True)
class EmailLimits:
    max_header_bytes: int = 256 * 1024
    max_header_line_bytes: int = 16 * 1024
    max_headers: int = 500
    # Longer bodies keep their first part as text and travel whole as an attachment,
    # so a Kafka record stays far below the broker's 1 MB default.
    max_text_chars: int = 100_000


@dataclass(frozen=True)
class ParsedEmail:
    from_address: str
    from_name: str | None
    to: list[str]
    subject: str | None
    message_id: str | None
    in_reply_to: list[str]
    references: list[str]
    text: str
    language: str
    attachments: list[Blob] = field(default_factory=list)
    content_sha256: str = ""
    # What the From address's evidence is decided on (``from_evidence``): one From header
    # holding one mailbox, parsed without doubt; the Authentication-Results values, top first.
    from_unambiguous: bool = False
    authentication_results: tuple[str, ...] = ()
    # The tokens of the reply addresses (``antwoord+<token>@…``) the mail was delivered
    # to: the SMTP envelope's, set by the receiver (services/ingest/reply_addresses.py).
    reply_tokens: tuple[str, ...] = ()

    def thread_refs(self) -> list[str]:
        """Own Message-ID first, then In-Reply-To, then References; no duplicates. Then
        the reply tokens: an answer threads onto the reply's case even without quoting."""
        ids = ([self.message_id] if self.message_id else []) + self.in_reply_to + self.references
        refs = [f"email:{i}" for i in dict.fromkeys(ids)]
        return refs + [f"{REPLY_REF_PREFIX}{t}" for t in dict.fromkeys(self.reply_tokens)]

    def idempotency_keys(self) -> list[tuple[str, str]]:
        """The content: the SHA-256 of the raw bytes with line endings normalised (CRLF and
        CR as LF), so the same mail over SMTP (CRLF) and over HTTP (often LF) is one
        message. Not the Message-ID: senders reuse those for other mail, which is then
        another message, never a dropped duplicate."""
        return [("email:content-sha256", self.content_sha256)]


def normalised_sha256(raw: bytes) -> str:
    """What makes two deliveries one e-mail: the bytes, line endings normalised to LF."""
    return hashlib.sha256(raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")).hexdigest()


def _check_raw(raw: bytes, limits: EmailLimits) -> None:
    if not raw.strip():
        raise MalformedEmailError("the body is empty; send the raw RFC 5322 message")
    if b"\x00" in raw:
        raise MalformedEmailError("the message contains NUL bytes, which RFC 5322 forbids")
    end = re.search(rb"\r?\n\r?\n", raw)
    header_block = raw[: end.start()] if end else raw
    if len(header_block) > limits.max_header_bytes:
        raise MalformedEmailError(f"the header block exceeds {limits.max_header_bytes} bytes")
    lines = header_block.splitlines()
    if max((len(line) for line in lines), default=0) > limits.max_header_line_bytes:
        raise MalformedEmailError(
            f"a header line exceeds {limits.max_header_line_bytes} bytes (RFC 5322 allows 998)"
        )
    headers = sum(1 for line in lines if line[:1] not in (b" ", b"\t"))
    if headers > limits.max_headers:
        raise MalformedEmailError(f"more than {limits.max_headers} header fields")


def _defects(part: Message) -> set[str]:
    return {type(d).__name__ for d in part.defects}


def _cp1252_c1(text: str) -> str:
    """C1 control characters in decoded text are Windows-1252 labelled as ISO-8859-1
    (Outlook's en dash, curly quotes): read them as Windows-1252, drop the rest."""

    def fix(match: re.Match[str]) -> str:
        try:
            return bytes([ord(match.group())]).decode("cp1252")
        except UnicodeDecodeError:
            return ""

    return _C1.sub(fix, text)


def _header(msg: EmailMessage, name: str) -> str | None:
    value = msg.get(name)
    if value is None:
        return None
    text = _cp1252_c1(str(value))
    # Decoded encoded-words may smuggle line breaks ("=?utf-8?q?x=0D=0ABcc:...?="):
    # a header value that is not one line is an injection attempt, not a subject.
    if _HEADER_CONTROL.search(text.replace("\t", " ")):
        raise HeaderInjectionError(f"the {name} header contains line breaks or control characters")
    return text.strip() or None


def _ids(value: str | None) -> list[str]:
    if not value:
        return []
    found = _MESSAGE_ID.findall(value)
    if found:
        return list(found)
    bare = value.strip()
    return [bare] if bare and " " not in bare and len(bare) <= 995 else []


def _unescaped(text: str) -> str:
    """Header text with its raw 8-bit bytes decoded: UTF-8 (RFC 6532), else Windows-1252
    (old clients' raw Latin-1), per run of such bytes."""

    def decode(match: re.Match[str]) -> str:
        data = match.group().encode("utf-8", "surrogateescape")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("cp1252", errors="replace")

    return _ESCAPED.sub(decode, text)


def _utf8_address(addr_spec: str) -> str | None:
    """An address with raw 8-bit bytes is UTF-8 (RFC 6532) or it is no address: a
    guessed character would make it someone else's."""
    try:
        return addr_spec.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return None


def _addresses(msg: EmailMessage, name: str) -> list[Address]:
    header: Any = msg.get(name)
    if header is None:
        return []
    _header(msg, name)  # the injection check
    return list(getattr(header, "addresses", ()))


# Labels that mail clients put on Windows-1252 text (WHATWG encoding standard does the same).
_CHARSET_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252"}


def _decode(part: Message) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    declared = (part.get_content_charset() or "us-ascii").lower()
    try:
        text = data.decode("utf-8") if declared in ("us-ascii", "utf-8") else None
    except UnicodeDecodeError:
        text = None
    if text is None:
        charset = _CHARSET_ALIASES.get(declared, declared)
        try:
            text = data.decode(charset, errors="replace")
        except LookupError:
            # An unknown charset label: UTF-8 with replacement keeps every ASCII word.
            text = data.decode("utf-8", errors="replace")
    text = _cp1252_c1(text.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROL.sub("", text)


def _is_attachment(part: Message) -> bool:
    return part.get_content_disposition() == "attachment" or part.get_filename() is not None


def _walk(
    part: Message, alternative: Message | None = None
) -> list[tuple[Message, Message | None]]:
    """Leaf parts, each with the multipart/alternative it sits in; forwarded messages
    (message/rfc822) are leaves, not opened: they are attachments in their own right."""
    if part.get_content_type() == "message/rfc822" or not part.is_multipart():
        return [(part, alternative)]
    if part.get_content_type() == "multipart/alternative":
        alternative = part
    leaves: list[tuple[Message, Message | None]] = []
    for sub in part.get_payload():
        if isinstance(sub, Message):
            leaves.extend(_walk(sub, alternative))
    return leaves


def _forwarded_blob(part: Message, number: int) -> Blob:
    inner = part.get_payload(0) if part.is_multipart() else None
    data = inner.as_bytes(policy=policy.SMTP) if isinstance(inner, Message) else b""
    if not data:
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
    name = part.get_filename() or f"forwarded-{number}.eml"
    return Blob(data=data, filename=name, media_type="message/rfc822")


def _body_and_attachments(msg: EmailMessage) -> tuple[str, list[Blob]]:
    body = msg.get_body(preferencelist=("plain", "html"))
    leaves = _walk(msg)
    body_alternative = next((alt for part, alt in leaves if part is body), None)
    texts: list[str] = []
    blobs: list[Blob] = []
    for number, (part, alternative) in enumerate(leaves, start=1):
        defects = _defects(part) & _FATAL_DEFECTS
        if defects:
            raise MalformedEmailError(
                f"MIME part {number} is damaged ({', '.join(sorted(defects))})"
            )
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            blobs.append(_forwarded_blob(part, number))
            continue
        is_text = ctype in ("text/plain", "text/html") and not _is_attachment(part)
        if part is body:
            text = _decode(part)
            texts.insert(0, html_to_text(text) if ctype == "text/html" else text.strip())
        elif is_text and body_alternative is not None and alternative is body_alternative:
            continue  # the other rendering of the body
        elif is_text:
            text = _decode(part)
            extra = html_to_text(text) if ctype == "text/html" else text.strip()
            if extra:
                texts.append(extra)
        else:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if not data and part.get_filename() is None:
                continue  # an empty part that names nothing
            blobs.append(Blob(data=data, filename=part.get_filename(), media_type=ctype))
    return "\n\n".join(t for t in texts if t), blobs


def parse(raw: bytes, limits: EmailLimits | None = None) -> ParsedEmail:
    """Parse a raw message, or raise ``EmailRefusedError`` saying why it cannot be accepted."""
    limits = limits or EmailLimits()
    _check_raw(raw, limits)
    try:
        return _parse(raw, limits)
    except EmailRefusedError:
        raise
    except ValueError as exc:
        if any(word in str(exc) for word in ("linefeed", "carriage return", "CR or LF")):
            # The header registry refuses decoded line breaks itself.
            raise HeaderInjectionError(
                "a header contains encoded line breaks (a header injection attempt)"
            ) from exc
        raise MalformedEmailError(
            f"the message could not be parsed ({type(exc).__name__})"
        ) from exc
    except Exception as exc:  # the stdlib parser has rare crashes on hostile input
        raise MalformedEmailError(
            f"the message could not be parsed ({type(exc).__name__})"
        ) from exc


def _parse(raw: bytes, limits: EmailLimits) -> ParsedEmail:
    msg = BytesParser(policy=_POLICY).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    fatal = _defects(msg) & _FATAL_DEFECTS
    if fatal:
        raise MalformedEmailError(
            f"not a well-formed RFC 5322 / MIME message ({', '.join(sorted(fatal))})"
        )
    mailboxes = _addresses(msg, "From")
    senders = [a for a in mailboxes if a.addr_spec and "@" in a.addr_spec]
    if not senders:
        raise EmailRefusedError("the message has no sender address in its From header")
    sender = senders[0]
    utf8 = _utf8_address(sender.addr_spec)
    if utf8 is None:
        raise MalformedEmailError("the From address has raw bytes that are not UTF-8 (RFC 6532)")
    address = utf8.lower()
    if len(address) > 320 or _HEADER_CONTROL.search(address):
        raise MalformedEmailError("the From address is not a usable e-mail address")
    subject = _header(msg, "Subject")
    own = _ids(_header(msg, "Message-ID"))
    language = (_header(msg, "Content-Language") or "nl").split(",")[0].strip()[:2].lower()
    text, blobs = _body_and_attachments(msg)
    if len(text) > limits.max_text_chars:
        blobs.insert(0, Blob(data=text.encode(), filename="body.txt", media_type="text/plain"))
        text = text[: limits.max_text_chars] + "\n\n[... the full text is attached as body.txt]"
    return ParsedEmail(
        from_address=address,
        from_name=_clean_name(_cp1252_c1(_unescaped(sender.display_name))),
        to=[_unescaped(a.addr_spec).lower() for a in _addresses(msg, "To") if a.addr_spec],
        subject=subject[:998] if subject else None,
        message_id=own[0] if own else None,
        in_reply_to=_ids(_header(msg, "In-Reply-To")),
        references=_ids(_header(msg, "References"))[-_MAX_REFERENCES:],
        text=text,
        language=language if re.fullmatch(r"[a-z]{2}", language) else "nl",
        attachments=blobs,
        content_sha256=normalised_sha256(raw),
        from_unambiguous=_single_mailbox(msg, len(mailboxes)),
        authentication_results=tuple(
            _unescaped(re.sub(r"\r?\n", "", value))  # unfolded (RFC 5322 2.2.3)
            for name, value in msg.raw_items()
            if name.lower() == "authentication-results"
        ),
    )


def _single_mailbox(msg: EmailMessage, mailboxes: int) -> bool:
    """One From header holding one mailbox (no group), parsed without doubt. RFC 5322
    allows several mailboxes in From; then no one address is the authenticated one."""
    if mailboxes != 1 or sum(1 for name in msg if name.lower() == "from") != 1:
        return False
    header: Any = msg.get("From")
    groups: tuple[Any, ...] = header.groups
    if len(groups) != 1 or groups[0].display_name is not None:
        return False
    return {type(d).__name__ for d in header.defects} <= _HARMLESS_FROM_DEFECTS


def _clean_name(name: str | None) -> str | None:
    if not name:
        return None
    return name.strip().strip('"').strip()[:200] or None


def to_message(
    email: ParsedEmail,
    *,
    message_id: uuid.UUID,
    attachments: list[AttachmentRef],
    received_at: datetime | None = None,
    trusted_authserv_ids: Collection[str] = frozenset(),
) -> InboundMessage:
    """``trusted_authserv_ids``: the gateways whose Authentication-Results count (the SMTP
    receiver's setting, or the HTTP integration key's)."""
    vouching = from_evidence(email, trusted_authserv_ids)
    return InboundMessage(
        message_id=message_id,
        channel=Channel.EMAIL,
        received_at=received_at or datetime.now(UTC),
        sender=sender_identifiers(
            [(IdentifierKind.EMAIL, email.from_address)],
            {} if vouching is None else {IdentifierKind.EMAIL: Evidence.DMARC},
            detail=vouching,
        ),
        display_name=email.from_name,
        subject=email.subject,
        text=email.text,
        language=email.language,
        thread_refs=email.thread_refs(),
        attachments=attachments,
        channel_message_id=email.message_id,
    )


def builder(
    email: ParsedEmail, trusted_authserv_ids: Collection[str]
) -> Callable[[uuid.UUID, list[AttachmentRef], datetime], InboundMessage]:
    """``to_message`` as ``Intake.accept`` builds a message (the SMTP receiver and the HTTP
    route alike): "now" is when the message was first received."""
    return lambda mid, refs, now: to_message(
        email,
        message_id=mid,
        attachments=refs,
        received_at=now,
        trusted_authserv_ids=trusted_authserv_ids,
    )
