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

Two kinds of address belong to replies (issue #17, services/ingest/reply_addresses.py):
mail to ``antwoord+<token>@…`` is a resident's answer, accepted as any mail but carrying
the thread ref ``reply:<token>``; mail to ``bounces+…@…`` is never a resident's message:
a DSN becomes a ``DeliveryReportReceived`` (``250`` only after Kafka acknowledged it,
``451`` when Kafka is away), anything else there is accepted and dropped (counted), so
a mail loop cannot open a case.

The receiver sits behind the municipality's mail gateway (which does spam and
virus filtering, TLS and SPF/DKIM/DMARC); it offers no AUTH and no STARTTLS. It
advertises SMTPUTF8 (RFC 6531): internationalised addresses and raw UTF-8 headers
are accepted. The gateway's own Authentication-Results header (its authserv-id in
``EENLOKET_SMTP_TRUSTED_AUTHSERV_IDS``) is what gives the From address evidence.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.exc import DBAPIError, OperationalError

from services.ingest.attachments import AttachmentLimitError
from services.ingest.channels import email as email_channel
from services.ingest.channels.dsn import parse_dsn
from services.ingest.delivery_reports import Outcome, ReportPublisher, count
from services.ingest.rejections import Reason
from services.ingest.reply_addresses import ReplyMailbox, is_reply_mailbox, tokens_of
from services.ingest.service import REJECTED, InFlightError, Intake
from shared.contracts.outbound import DeliveryReportReceived, ReplyChannel
from shared.kafka.producer import BrokerUnavailableError

log = logging.getLogger(__name__)

CHANNEL = "email"


class EmailDelivery:
    """aiosmtpd handler: recipients checked at RCPT, the message accepted at DATA."""

    def __init__(
        self,
        intake: Intake,
        domains: list[str],
        trusted_authserv_ids: Collection[str] = (),
        reports: ReportPublisher | None = None,
    ) -> None:
        self.intake = intake
        self.domains = frozenset(d.lower() for d in domains)
        self.trusted_authserv_ids = frozenset(trusted_authserv_ids)
        self.reports = reports

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
        return await self.deliver(raw, envelope.rcpt_tos)

    async def deliver(self, raw: bytes, recipients: Sequence[str] = ()) -> str:
        """One message for ``recipients`` (the envelope's RCPT TO addresses)."""
        if any(is_reply_mailbox(r, ReplyMailbox.BOUNCES) for r in recipients):
            return await self.report(raw, tokens_of(recipients, ReplyMailbox.BOUNCES))
        try:
            parsed = email_channel.parse(raw)
        except email_channel.EmailRefusedError as exc:
            REJECTED.labels(CHANNEL, exc.reason).inc()
            return f"{exc.smtp_reply}: {exc.detail}"
        answers = tokens_of(recipients, ReplyMailbox.ANSWER)
        if answers:
            parsed = dataclasses.replace(parsed, reply_tokens=tuple(answers))
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

    async def report(self, raw: bytes, tokens: list[str]) -> str:
        """Mail to a bounce address: a DSN's outcome for each token, or nothing at all."""
        dsn = parse_dsn(raw)
        if dsn is None:
            count(CHANNEL, Outcome.NOT_A_REPORT)
            return "250 2.0.0 Accepted (not a delivery status notification; dropped)"
        status, reason = dsn.outcome()
        if status is None or not tokens:
            count(CHANNEL, Outcome.DELAYED if dsn.delayed else Outcome.IGNORED)
            return "250 2.0.0 Accepted (no change of status)"
        fingerprint = email_channel.normalised_sha256(raw)
        now = datetime.now(UTC)
        try:
            if self.reports is None:
                raise RuntimeError("the SMTP receiver has no delivery-report publisher")
            for token in tokens:
                report = DeliveryReportReceived(
                    channel=ReplyChannel.EMAIL, token=token, status=status, reason=reason, at=now
                )
                await self.reports.publish(report, seen_as=f"{token}\x00{fingerprint}")
        except BrokerUnavailableError:
            REJECTED.labels(CHANNEL, Reason.KAFKA_UNAVAILABLE).inc()
            return "451 4.3.0 Message queue unavailable; try again later"
        except Exception as exc:  # as for messages: defer, never a 500 quoting the mail
            REJECTED.labels(CHANNEL, Reason.INTERNAL_ERROR).inc()
            log.error("delivery report failed", extra={"error_type": type(exc).__name__})
            return "451 4.3.0 Temporary failure; try again later"
        return "250 2.0.0 Delivery report accepted"


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
        reports: ReportPublisher | None = None,
    ) -> None:
        self._handler = EmailDelivery(intake, domains, trusted_authserv_ids, reports)
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
