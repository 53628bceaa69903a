"""The SMTP receiver: the e-mail channel for mail servers, inside the ingest process.

It runs on ingest's own event loop (not aiosmtpd's threaded ``Controller``), so
it shares the Kafka producer and the database engine with the HTTP routes.
Replies, as a sending mail server understands them:

- ``250`` only after Kafka acknowledged the message (``Intake.accept`` returned), also
  for a duplicate (the same content, line endings aside, acknowledged before);
- ``451`` when Kafka (or the database) is away, or while the same message is being
  accepted by another request: the sender queues and retries;
- ``552`` over the message size or attachment limits (also advertised in EHLO SIZE);
- ``550`` for a recipient in a domain the municipality does not own;
- ``554`` for a message that cannot be parsed.

The receiver sits behind the municipality's mail gateway (which does spam and
virus filtering, TLS and SPF/DKIM/DMARC); it offers no AUTH and no STARTTLS. It
advertises SMTPUTF8 (RFC 6531): internationalised addresses and raw UTF-8 headers
are accepted. The gateway's own Authentication-Results header (its authserv-id in
``EENLOKET_SMTP_TRUSTED_AUTHSERV_IDS``) is what gives the From address evidence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.exc import DBAPIError, OperationalError

from services.ingest.attachments import AttachmentLimitError
from services.ingest.channels import email as email_channel
from services.ingest.rejections import Reason
from services.ingest.service import REJECTED, InFlightError, Intake
from shared.kafka.producer import BrokerUnavailableError

log = logging.getLogger(__name__)

CHANNEL = "email"


class EmailDelivery:
    """aiosmtpd handler: recipients checked at RCPT, the message accepted at DATA."""

    def __init__(
        self, intake: Intake, domains: list[str], trusted_authserv_ids: Collection[str] = ()
    ) -> None:
        self.intake = intake
        self.domains = frozenset(d.lower() for d in domains)
        self.trusted_authserv_ids = frozenset(trusted_authserv_ids)

    async def handle_RCPT(  # noqa: N802 - the name aiosmtpd calls
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        domain = address.rpartition("@")[2].strip().lower().rstrip(".")
        if domain not in self.domains:
            REJECTED.labels(CHANNEL, Reason.RECIPIENT_NOT_OWNED).inc()
            return "550 5.1.1 Recipient not accepted: not a mailbox of this municipality"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - the name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            raw = str(raw).encode("utf-8", errors="surrogateescape")
        return await self.deliver(raw)

    async def deliver(self, raw: bytes) -> str:
        try:
            parsed = email_channel.parse(raw)
        except email_channel.EmailRefusedError as exc:
            REJECTED.labels(CHANNEL, exc.reason).inc()
            return f"{exc.smtp_reply}: {exc.detail}"
        try:
            accepted = await self.intake.accept(
                email_channel.builder(parsed, self.trusted_authserv_ids),
                channel=CHANNEL,
                idempotency=parsed.idempotency_keys(),
                fingerprint=parsed.content_sha256,
                attachments=parsed.attachments,
            )
        except AttachmentLimitError as exc:
            REJECTED.labels(CHANNEL, Reason.TOO_LARGE).inc()
            return f"552 5.3.4 Message refused: {exc}"
        except BrokerUnavailableError:
            REJECTED.labels(CHANNEL, Reason.KAFKA_UNAVAILABLE).inc()
            return "451 4.3.0 Message queue unavailable; try again later"
        except InFlightError:
            # The same mail is being accepted right now (over HTTP, or another session):
            # not yet ours to confirm. Once it is, the retry gets its 250.
            REJECTED.labels(CHANNEL, Reason.IN_PROGRESS).inc()
            return "451 4.3.0 The same message is being accepted; try again later"
        except (OperationalError, DBAPIError, OSError) as exc:
            REJECTED.labels(CHANNEL, Reason.STORAGE_UNAVAILABLE).inc()
            log.warning("smtp delivery deferred", extra={"error_type": type(exc).__name__})
            return "451 4.3.0 Temporary failure; try again later"
        except Exception as exc:
            # A bug, not the sender's fault: defer (the mail server retries, nothing is
            # lost) instead of letting aiosmtpd answer 500 with the exception's text,
            # which may quote the message.
            REJECTED.labels(CHANNEL, Reason.INTERNAL_ERROR).inc()
            log.error("smtp delivery failed", extra={"error_type": type(exc).__name__})
            return "451 4.3.0 Temporary failure; try again later"
        return f"250 2.0.0 Accepted as {accepted.message_id}"


class _Server(SMTP):
    # aiosmtpd holds DATA lines to 1001 bytes (RFC 5321); real mail (long HTML lines in
    # 8bit) exceeds that, and the header limits of the e-mail parser still apply.
    line_length_limit = 16 * 1024


class SmtpReceiver:
    def __init__(
        self,
        intake: Intake,
        *,
        host: str,
        port: int,
        hostname: str,
        domains: list[str],
        max_message_bytes: int,
        trusted_authserv_ids: Collection[str] = (),
    ) -> None:
        self._handler = EmailDelivery(intake, domains, trusted_authserv_ids)
        self._host = host
        self._port = port
        self._hostname = hostname
        self._limit = max_message_bytes
        self._server: asyncio.Server | None = None

    def _protocol(self) -> SMTP:
        return _Server(
            self._handler,
            data_size_limit=self._limit,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self._hostname,
            ident="Eenloket ingest",
            timeout=60,
        )

    async def start(self) -> None:
        # aiosmtpd logs every command line, sender and recipient at INFO: addresses,
        # i.e. personal data. Its warnings (and ours) are enough.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self._host, self._port)
        log.info("smtp receiver listening", extra={"port": self.port})

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0: any free port)."""
        assert self._server is not None
        sockets: Any = self._server.sockets
        return int(sockets[0].getsockname()[1])

    async def check(self) -> None:
        if self._server is None or not self._server.is_serving():
            raise ConnectionError("the SMTP receiver is not listening")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
