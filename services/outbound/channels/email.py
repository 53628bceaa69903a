"""The e-mail adapter: one ``DeliverReply`` as one mail, submitted to the municipality's relay.

Everything that identifies the mail comes from the request, so a resend after a crash is the
same mail: ``Message-ID: <{reply_id}@{mail_domain}>``, ``Date`` = when staff asked for it,
``Reply-To: antwoord+{token}@…`` (the resident's answer lands on the case through ingest),
envelope sender ``bounces+{token}@…`` (VERP: a bounce names its reply), threading from the
resident's own Message-IDs. No ``Auto-Submitted``: a person wrote the reply, and mail
clients and auto-responders should treat it as such.

Mail goes over a small pool of kept SMTP sessions (``SmtpPool``): connecting, EHLO and QUIT
for every mail cost more than the mail itself.

SMTP's own classes decide the error: a 5xx answer fails the reply with the server's text;
4xx, timeouts and broken connections are retried. A header value with a line break (or
any control character) is refused before anything is sent: never a broken mail.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import aiosmtplib
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.outbound.channels.base import (
    PermanentDeliveryError,
    Sent,
    TemporaryDeliveryError,
)
from shared.contracts.inbound import AttachmentRef
from shared.contracts.outbound import DeliverReply, ReplyChannel

# Control characters a header value may not hold (a tab may: it folds harmlessly).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})+$")
_TOKEN = re.compile(r"^[a-z2-7]{1,64}$")  # reply_token(): lower-case base32
_MSG_ID = re.compile(r"^[^<>\s]{1,995}$")
_MEDIA_TYPE = re.compile(r"^([a-z0-9][a-z0-9!#$&^_.+-]{0,126})/([a-z0-9][a-z0-9!#$&^_.+-]{0,126})$")
# Headers the DKIM signature covers; absent ones are signed as absent, so a relay or an
# attacker cannot add them afterwards.
_DKIM_HEADERS = [
    b"from", b"to", b"subject", b"date", b"message-id", b"in-reply-to", b"references",
    b"reply-to", b"mime-version", b"content-type", b"content-transfer-encoding",
]  # fmt: skip

Fetch = Callable[[AttachmentRef], Awaitable[bytes]]


class EmailSettings(BaseSettings):
    """The relay and the sender (``EENLOKET_RELAY_*``); the outbound service's settings embed it
    as ``smtp: EmailSettings = Field(default_factory=EmailSettings)``."""

    model_config = SettingsConfigDict(env_prefix="EENLOKET_RELAY_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    # off: plain SMTP; on: STARTTLS when the relay offers it; required: refuse a relay without.
    starttls: Literal["off", "on", "required"] = "on"
    validate_certs: bool = True
    username: str | None = None
    password: SecretStr | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    # Kept sessions: at most this many at once (relays limit connections per client), each
    # used for this many mails and dropped after this long idle (relays close idle sessions,
    # Postfix after 300 s).
    pool_size: int = Field(default=10, ge=1)
    pool_mails_per_connection: int = Field(default=100, ge=1)
    pool_idle_seconds: float = Field(default=30.0, gt=0)
    from_address: str = "noreply@gemeente.example"
    from_name: str = "Gemeente"
    # Message-IDs, Reply-To (antwoord+token@) and bounce (bounces+token@) addresses live here;
    # ingest's SMTP receiver must receive mail for it.
    mail_domain: str = "gemeente.example"
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_private_key_path: Path | None = None

    @model_validator(mode="after")
    def _check(self) -> EmailSettings:
        if not _DOMAIN.match(self.mail_domain):
            raise ValueError("EENLOKET_RELAY_MAIL_DOMAIN must be a domain name")
        if _CONTROL.search(self.from_name + self.from_address):
            raise ValueError("EENLOKET_RELAY_FROM_NAME/FROM_ADDRESS may not hold line breaks")
        try:
            Address(display_name=self.from_name, addr_spec=self.from_address)
        except (ValueError, HeaderParseError) as exc:
            raise ValueError("EENLOKET_RELAY_FROM_ADDRESS is not an e-mail address") from exc
        dkim = (self.dkim_selector, self.dkim_domain, self.dkim_private_key_path)
        if any(v is not None for v in dkim) and not all(v is not None for v in dkim):
            raise ValueError("DKIM needs EENLOKET_RELAY_DKIM_SELECTOR, _DOMAIN, _PRIVATE_KEY_PATH")
        return self

    @property
    def dkim_enabled(self) -> bool:
        return self.dkim_private_key_path is not None


class _Registry(HeaderRegistry):
    """The standard header classes, each made once: ``HeaderRegistry`` builds a new class with
    ``type()`` for every header it is asked for (a fifth of a mail's rendering time)."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


# SMTP's policy (CRLF, RFC 5322 folding) with the registry above: the same bytes, faster.
MAIL_POLICY = policy.SMTP.clone(header_factory=_Registry())


def message_id(settings: EmailSettings, request: DeliverReply) -> str:
    """The reply's Message-ID without angle brackets (as ingest records Message-IDs)."""
    return f"{request.reply_id}@{settings.mail_domain}"


def envelope_sender(settings: EmailSettings, request: DeliverReply) -> str:
    """MAIL FROM (VERP): a bounce comes back to an address that names its reply."""
    return f"bounces+{request.token}@{settings.mail_domain}"


def _header_value(value: str, what: str) -> str:
    if _CONTROL.search(value):
        raise PermanentDeliveryError(f"{what} bevat een regeleinde of stuurteken; niet verzonden")
    return value


def _bracketed(ids: Iterable[str]) -> list[str]:
    out: list[str] = []
    for raw in ids:
        bare = _header_value(raw, "een Message-ID van de draad").strip().strip("<>")
        if not _MSG_ID.match(bare):
            raise PermanentDeliveryError("een Message-ID van de draad is ongeldig; niet verzonden")
        if f"<{bare}>" not in out:
            out.append(f"<{bare}>")
    return out


def _recipient(request: DeliverReply) -> Address:
    address = _header_value(request.address.strip(), "het adres")
    name = _header_value(request.display_name or "", "de naam van de ontvanger")
    local, at, domain = address.rpartition("@")
    if not at or not local.isascii():
        raise PermanentDeliveryError("het e-mailadres is ongeldig of niet in ASCII; niet verzonden")
    try:
        parsed = Address(display_name=name, addr_spec=f"{local}@{domain.encode('idna').decode()}")
    except (ValueError, UnicodeError, HeaderParseError) as exc:
        raise PermanentDeliveryError("het e-mailadres is ongeldig; niet verzonden") from exc
    if parsed.username != local or not parsed.domain:
        raise PermanentDeliveryError("het e-mailadres is ongeldig; niet verzonden")
    return parsed


def build_message(
    settings: EmailSettings, request: DeliverReply, attachments: list[tuple[AttachmentRef, bytes]]
) -> EmailMessage:
    """The mail as the resident receives it (without the DKIM signature)."""
    if request.channel != ReplyChannel.EMAIL:
        raise PermanentDeliveryError(f"kanaal {request.channel} is geen e-mail")
    token = request.token
    if not _TOKEN.match(token):
        raise PermanentDeliveryError("het antwoordtoken is ongeldig; niet verzonden")
    subject = request.subject or f"Antwoord op uw bericht (zaak {request.case_number})"
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["Subject"] = _header_value(subject, "het onderwerp")
    msg["From"] = Address(display_name=settings.from_name, addr_spec=settings.from_address)
    msg["To"] = _recipient(request)
    msg["Reply-To"] = f"antwoord+{token}@{settings.mail_domain}"
    msg["Date"] = format_datetime(request.requested_at)
    msg["Message-ID"] = f"<{message_id(settings, request)}>"
    # RFC 5322 3.6.4: References ends with the parent (the message replied to); the contract
    # lists the resident's Message-IDs last first.
    parent = _bracketed([request.in_reply_to] if request.in_reply_to else [])
    references = [r for r in reversed(_bracketed(request.references)) if r not in parent] + parent
    if parent:
        msg["In-Reply-To"] = parent[0]
    if references:
        msg["References"] = " ".join(references)
    msg.set_content(request.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    for ref, data in attachments:
        filename = _header_value(ref.filename or "bijlage", "de naam van een bijlage")
        kind = _MEDIA_TYPE.match(ref.media_type.split(";", 1)[0].strip().lower())
        maintype, subtype = kind.groups() if kind else ("application", "octet-stream")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def _scrubbed(text: str, address: str) -> str:
    """A server's reply text for staff, without the resident's address it often quotes."""
    text = " ".join(text.split())[:500]
    return re.sub(re.escape(address), "<ontvanger>", text, flags=re.IGNORECASE) if address else text


class SmtpSession(Protocol):
    """What the pool needs of ``aiosmtplib.SMTP`` (tests give fakes)."""

    @property
    def is_connected(self) -> bool: ...
    async def connect(self) -> Any: ...
    async def sendmail(self, sender: str, recipients: list[str], message: bytes) -> Any: ...
    async def quit(self) -> Any: ...
    def close(self) -> None: ...


@dataclass
class _Kept:
    session: SmtpSession
    mails: int
    idle_since: float


class SmtpPool:
    """At most ``size`` sessions to the relay, each reused for up to ``mails_per_connection``
    mails while idle for less than ``idle_seconds``. A session that saw any error is closed,
    never reused: its protocol state is unknown. A kept session the relay dropped meanwhile
    is replaced once by a new one; if the relay had taken the mail before it dropped, the
    resent copy has the same Message-ID (the duplicate window of services/outbound/worker.py)."""

    def __init__(
        self,
        factory: Callable[[], SmtpSession],
        *,
        size: int,
        mails_per_connection: int,
        idle_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self._slots = asyncio.Semaphore(size)
        self._kept: list[_Kept] = []
        self._mails_per_connection = mails_per_connection
        self._idle_seconds = idle_seconds
        self._clock = clock

    @property
    def kept(self) -> int:
        return len(self._kept)

    def _take(self) -> _Kept | None:
        while self._kept:
            kept = self._kept.pop()  # the most recently used: the least likely to be dropped
            if kept.session.is_connected and self._clock() - kept.idle_since < self._idle_seconds:
                return kept
            kept.session.close()
        return None

    async def _connect(self) -> SmtpSession:
        session = self._factory()
        try:
            await session.connect()
        except BaseException:
            session.close()
            raise
        return session

    async def sendmail(self, sender: str, recipients: list[str], message: bytes) -> None:
        async with self._slots:
            kept = self._take()
            while True:
                session = kept.session if kept else await self._connect()
                mails = kept.mails if kept else 0
                try:
                    await session.sendmail(sender, recipients, message)
                except aiosmtplib.SMTPServerDisconnected:
                    session.close()
                    if kept is None:
                        raise
                    kept = None  # dropped while kept: once more on a new session
                    continue
                except BaseException:
                    session.close()
                    raise
                break
            if mails + 1 < self._mails_per_connection:
                self._kept.append(_Kept(session, mails + 1, self._clock()))
            else:
                await self._quit(session)

    @staticmethod
    async def _quit(session: SmtpSession) -> None:
        try:
            await session.quit()
        except (aiosmtplib.SMTPException, OSError):
            pass  # the mail went; a session that will not say goodbye is closed all the same
        finally:
            session.close()

    async def aclose(self) -> None:
        kept, self._kept = self._kept, []
        for k in kept:
            await self._quit(k.session)


class EmailAdapter:
    """Sends a ``DeliverReply`` by SMTP; ``fetch`` gives an attachment's bytes (the store's get)."""

    def __init__(self, settings: EmailSettings, fetch: Fetch | None = None) -> None:
        self.settings = settings
        self._fetch = fetch
        self._dkim_key: bytes | None = None
        self.pool = SmtpPool(
            self._session,
            size=settings.pool_size,
            mails_per_connection=settings.pool_mails_per_connection,
            idle_seconds=settings.pool_idle_seconds,
        )
        if settings.dkim_private_key_path is not None:
            self._dkim_key = settings.dkim_private_key_path.read_bytes()
            # A key dkimpy cannot use fails the service's start, not every reply.
            try:
                self._sign(b"From: probe@example.org\r\nSubject: probe\r\n\r\nprobe\r\n")
            except Exception as exc:  # dkimpy raises its own errors and binascii's
                raise ValueError(f"the DKIM key cannot sign: {type(exc).__name__}") from exc

    def _sign(self, message: bytes) -> bytes:
        import dkim  # only where DKIM is configured

        assert self.settings.dkim_selector
        assert self.settings.dkim_domain
        assert self._dkim_key
        signature: bytes = dkim.sign(
            message,
            self.settings.dkim_selector.encode(),
            self.settings.dkim_domain.encode(),
            self._dkim_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=_DKIM_HEADERS,
        )
        return signature + message

    def _session(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password.get_secret_value() if s.password else None,
            timeout=s.timeout_seconds,
            start_tls={"off": False, "on": None, "required": True}[s.starttls],
            validate_certs=s.validate_certs,
        )

    async def aclose(self) -> None:
        """Say goodbye on the kept sessions (at shutdown)."""
        await self.pool.aclose()

    async def _attachment(self, ref: AttachmentRef) -> bytes:
        if self._fetch is None:
            raise PermanentDeliveryError("bijlagen kunnen niet worden meegestuurd (geen opslag)")
        try:
            data = await self._fetch(ref)
        except KeyError as exc:
            raise PermanentDeliveryError("een bijlage staat niet (meer) in de opslag") from exc
        except OSError as exc:
            raise TemporaryDeliveryError(f"bijlagenopslag niet bereikbaar: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            raise PermanentDeliveryError("een bijlage in de opslag is beschadigd")
        return data

    async def render(self, request: DeliverReply) -> bytes:
        """The bytes that go over the wire: CRLF line ends, signed when DKIM is configured."""
        attachments = [(ref, await self._attachment(ref)) for ref in request.attachments]
        message = build_message(self.settings, request, attachments)
        try:
            data = message.as_bytes(policy=MAIL_POLICY)
        except (ValueError, UnicodeError) as exc:
            raise PermanentDeliveryError("de mail kon niet worden opgebouwd") from exc
        return self._sign(data) if self._dkim_key is not None else data

    async def send(self, request: DeliverReply) -> Sent:
        data = await self.render(request)
        recipient = _recipient(request).addr_spec
        s = self.settings
        try:
            await self.pool.sendmail(envelope_sender(s, request), [recipient], data)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            raise _refused(first.code, first.message, request.address) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Our credentials, not this reply: retried until someone fixes the configuration.
            raise TemporaryDeliveryError(
                f"aanmelden bij de SMTP-relay geweigerd ({exc.code}): {_scrubbed(exc.message, '')}"
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _refused(exc.code, exc.message, request.address) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Timeouts, refused or dropped connections, STARTTLS required but not offered.
            text = _scrubbed(str(exc), request.address)
            raise TemporaryDeliveryError(
                f"SMTP-relay niet bereikbaar: {type(exc).__name__}: {text}"
            ) from exc
        return Sent(reference=message_id(s, request))


def _refused(code: int, text: str, address: str) -> PermanentDeliveryError | TemporaryDeliveryError:
    reason = f"SMTP-server antwoordde {code}: {_scrubbed(text, address)}"
    return PermanentDeliveryError(reason) if 500 <= code < 600 else TemporaryDeliveryError(reason)
