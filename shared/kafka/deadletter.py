"""The dead-letter topic: the original record, bytes untouched, plus headers naming the error."""

from __future__ import annotations

from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from pydantic import ValidationError
from sqlalchemy.exc import StatementError

from shared.kafka.records import Record

MAX_ERROR_CHARS = 1000


def describe_error(exc: BaseException) -> str:
    """A developer-usable description that does not echo the record's contents."""
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        ]
        text = f"{exc.title}: " + "; ".join(parts)
    elif isinstance(exc, StatementError):
        # Never the SQL parameters or the driver's DETAIL line: they quote the record's
        # values (a message text, an e-mail address). The driver's first line names the
        # constraint or the problem.
        orig = exc.orig
        first = str(orig).splitlines()[0] if orig is not None and str(orig) else ""
        text = f"{type(exc).__name__} ({type(orig).__name__}): {first}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR_CHARS]


class DeadLetters:
    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self.topic = topic

    async def send(self, record: Record, *, group: str, reason: str, error: BaseException) -> None:
        """Publish and wait for the broker's acknowledgement before the offset moves on."""
        headers = [
            *(record.headers or ()),
            ("dlt.reason", reason.encode()),
            ("dlt.error.type", type(error).__name__.encode()),
            ("dlt.error.message", describe_error(error).encode("utf-8", "replace")),
            ("dlt.source.topic", record.topic.encode()),
            ("dlt.source.partition", str(record.partition).encode()),
            ("dlt.source.offset", str(record.offset).encode()),
            ("dlt.consumer.group", group.encode()),
            ("dlt.time", datetime.now(UTC).isoformat().encode()),
        ]
        try:
            await self._producer.send_and_wait(
                self.topic, value=record.value, key=record.key, headers=headers
            )
        except (MessageSizeTooLargeError, RecordTooLargeError):
            # The original plus the error headers is over the record size limit. Retrying
            # would stall the partition for good; the letter goes without the original's
            # bytes and headers, which stay on the source topic at the offset it names.
            size = len(record.value or b"")
            await self._producer.send_and_wait(
                self.topic,
                value=b"",
                key=record.key,
                headers=[*headers[-9:], ("dlt.value.omitted-bytes", str(size).encode())],
            )
