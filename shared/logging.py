"""JSON logs that never carry personal data.

Two guards: a log line keeps only allow-listed ``extra`` fields (ids, counts,
error types — never a name, address, BSN or message text), and whatever slips
into the message text is scrubbed of e-mail addresses, 9-digit numbers (BSN)
and phone numbers before it is written.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from opentelemetry import trace

ALLOWED_FIELDS = frozenset(
    {
        "service",
        "event_id",
        "message_id",
        "party_id",
        "case_id",
        "command_id",
        "channel",
        "topic",
        "partition",
        "offset",
        "group",
        "count",
        "reason",
        "error_type",
        "status_code",
        "method",
        "route",
        "duration_ms",
        "port",
    }
)

_SCRUBBERS = [
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "<email>"),
    (re.compile(r"(?<!\d)\d{9}(?!\d)"), "<nine-digits>"),
    (re.compile(r"\+?\d[\d \-]{8,}\d"), "<number>"),
]


def scrub(text: str) -> str:
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "service": self._service,
            "msg": scrub(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key in ALLOWED_FIELDS and key not in _STANDARD:
                doc[key] = value if isinstance(value, int | float | bool) else scrub(str(value))
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            doc["trace_id"] = f"{span.trace_id:032x}"
            doc["span_id"] = f"{span.span_id:016x}"
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: exception messages can quote the input they choked on.
            doc["error_type"] = record.exc_info[0].__name__
        return orjson.dumps(doc).decode()


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel("WARNING")
